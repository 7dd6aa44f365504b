package shell

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/secret"
)

// recordingComm is the local communicator, keeping every command line it
// is asked to run.
type recordingComm struct {
	communicator.Communicator
	mu    sync.Mutex
	lines []string
}

func (r *recordingComm) Run(ctx context.Context, cmd *communicator.Cmd) (int, error) {
	r.mu.Lock()
	r.lines = append(r.lines, cmd.Command)
	r.mu.Unlock()
	return r.Communicator.Run(ctx, cmd)
}

// A sensitive environment value leaves the command line with a user's
// execute_command too, where {{.Vars}} starts a command; where it cannot,
// the build says so.
func TestSecretEnvironmentVarsLeaveACustomExecuteCommandWhereTheyCan(t *testing.T) {
	const token = "tok-5e1f-not-for-ps"
	secret.Add(token)
	t.Cleanup(secret.Reset)
	tests := []struct {
		name, command string
		wantInLine    bool
	}{
		{"vars starting a command are sourced from a file", "chmod +x {{ .Path }}; {{ .Vars }} sh -e '{{ .Path }}'", false},
		{"vars after env stay and are warned about", "env {{ .Vars }} sh -e {{ .Path }}", true},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			env, out, dir := newEnv(t)
			rec := &recordingComm{Communicator: env.Comm}
			env.Comm = rec
			p := prepared(t, Config{
				Inline:          []string{`test "$TOKEN" = '` + token + `' && echo token arrived`},
				EnvironmentVars: []string{"TOKEN=" + token},
				ExecuteCommand:  tt.command,
				RemoteFolder:    dir,
			})
			if err := p.Provision(context.Background(), env); err != nil {
				t.Fatalf("Provision: %v\n%s", err, out)
			}
			if !strings.Contains(out.String(), "token arrived") {
				t.Errorf("the script did not get the token:\n%s", out)
			}
			inLine := strings.Contains(strings.Join(rec.lines, "\n"), token)
			if inLine != tt.wantInLine {
				t.Errorf("token in a command line: %v, want %v; lines:\n%s", inLine, tt.wantInLine, strings.Join(rec.lines, "\n"))
			}
			warned := strings.Contains(out.String(), "the value is on the machine's command line")
			if warned != tt.wantInLine {
				t.Errorf("warned: %v, want %v:\n%s", warned, tt.wantInLine, out)
			}
			if strings.Contains(out.String(), token) {
				t.Errorf("the token is in the output:\n%s", out)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "varfile_*")); len(left) != 0 {
				t.Errorf("env var file left behind: %v", left)
			}
		})
	}
}
