package localshell

import (
	"context"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/ui"
)

// A sensitive environment value reaches the script through its
// environment, not the command line of it or its shell (which ps shows to
// every user), with Packer's default execute_command; a custom one that
// puts {{.Vars}} in the command line is warned about, and the value is in
// the environment too.
func TestSecretEnvironmentVarsStayOutOfLocalCommandLines(t *testing.T) {
	const token = "tok-81c2-local-secret"
	secret.Add(token)
	t.Cleanup(secret.Reset)
	tests := []struct {
		name        string
		command     []string
		wantInArgs  bool
		wantWarning bool
	}{
		{"default execute_command", nil, false, false},
		{"custom execute_command with vars", []string{"/bin/sh", "-c", "{{.Vars}} /bin/sh -e {{.Script}}"}, true, true},
		{"custom execute_command without vars", []string{"/bin/sh", "-e", "{{.Script}}"}, false, false},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			var out testenv.SyncBuffer
			u := ui.New(ui.Options{Out: &out}).Build("test")
			c := &Config{
				Inline: []string{
					`if cat /proc/$PPID/cmdline /proc/$$/cmdline | tr '\0' ' ' | grep -q -- "$TOKEN"; then echo TOKEN-IN-ARGS; fi`,
					`test "$TOKEN" = '` + token + `' && echo token arrived`,
				},
				EnvironmentVars: []string{"TOKEN=" + token},
				ExecuteCommand:  tt.command,
			}
			if err := c.Prepare(); err != nil {
				t.Fatal(err)
			}
			if err := c.Run(context.Background(), u, map[string]string{}); err != nil {
				t.Fatalf("Run: %v\n%s", err, out.String())
			}
			got := out.String()
			if !strings.Contains(got, "token arrived") {
				t.Errorf("the script did not get the token:\n%s", got)
			}
			if strings.Contains(got, "TOKEN-IN-ARGS") != tt.wantInArgs {
				t.Errorf("token in a command line: %v, want %v:\n%s", !tt.wantInArgs, tt.wantInArgs, got)
			}
			if strings.Contains(got, "puts {{.Vars}} on the command line") != tt.wantWarning {
				t.Errorf("warning shown: %v, want %v:\n%s", !tt.wantWarning, tt.wantWarning, got)
			}
			if strings.Contains(got, token) {
				t.Errorf("the token is in the output:\n%s", got)
			}
		})
	}
}
