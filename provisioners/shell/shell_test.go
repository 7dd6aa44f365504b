package shell

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator/local"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func newEnv(t *testing.T) (*plugin.ProvisionEnv, *testenv.SyncBuffer, string) {
	t.Helper()
	dir := t.TempDir()
	var out testenv.SyncBuffer
	root := ui.New(ui.Options{Out: &out})
	return &plugin.ProvisionEnv{
		UI:         root.Build("test.local"),
		Comm:       &local.Comm{Dir: dir},
		Generated:  plugin.GeneratedData{},
		BuildName:  "test.local",
		SourceType: "test",
		SourceName: "local",
	}, &out, dir
}

func prepared(t *testing.T, cfg Config) *Provisioner {
	t.Helper()
	p := &Provisioner{}
	*p.Config().(*Config) = cfg
	if _, err := p.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return p
}

func TestShellRunsInlineWithPackerEnvAndSafelyQuotedVars(t *testing.T) {
	env, out, dir := newEnv(t)
	p := prepared(t, Config{
		Inline:          []string{`echo "name=$PACKER_BUILD_NAME type=$PACKER_BUILDER_TYPE"`, `echo "tricky=$TRICKY"`, `echo "fromenv=$FROM_ENV"`},
		EnvironmentVars: []string{"TRICKY=it's $(touch pwned) `x`"},
		Env:             map[string]string{"FROM_ENV": "yes"},
		RemoteFolder:    dir,
	})
	if err := p.Provision(context.Background(), env); err != nil {
		t.Fatalf("Provision: %v\n%s", err, out)
	}
	for _, want := range []string{
		"==> test.local: Provisioning with shell script: inline script (3 lines)",
		"    test.local: name=local type=test",
		"    test.local: tricky=it's $(touch pwned) `x`",
		"    test.local: fromenv=yes",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("an environment value was executed as a command")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "script_*.sh")); len(left) != 0 {
		t.Errorf("script left behind without skip_clean: %v", left)
	}
}

func TestShellFailsOnExitCodeNotInValidExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		valid   []int
		wantErr string
	}{
		{"default allows only zero", nil, "non-zero exit status: 3"},
		{"listed code is accepted", []int{0, 3}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, out, dir := newEnv(t)
			p := prepared(t, Config{Inline: []string{"echo before", "exit 3"}, RemoteFolder: dir, ValidExitCodes: tt.valid})
			err := p.Provision(context.Background(), env)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Provision: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), "test.local: before") {
				t.Errorf("script output not shown:\n%s", out)
			}
		})
	}
}

func TestShellScriptsRunInOrderWithCRLFConvertedAndSkipCleanKeepsThem(t *testing.T) {
	env, out, dir := newEnv(t)
	src := t.TempDir()
	a := filepath.Join(src, "a.sh")
	b := filepath.Join(src, "b.sh")
	os.WriteFile(a, []byte("#!/bin/sh\r\necho first\r\n"), 0o644)
	os.WriteFile(b, []byte("#!/bin/sh\necho second\n"), 0o644)
	p := prepared(t, Config{Scripts: []string{a, b}, RemoteFolder: dir, RemoteFile: "kept.sh", SkipClean: true})
	if err := p.Provision(context.Background(), env); err != nil {
		t.Fatalf("Provision: %v\n%s", err, out)
	}
	s := out.String()
	if i, j := strings.Index(s, "test.local: first"), strings.Index(s, "test.local: second"); i < 0 || j < i {
		t.Fatalf("scripts did not run in order:\n%s", s)
	}
	if strings.Contains(s, "\r") {
		t.Errorf("carriage returns reached the output:\n%q", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "kept.sh")); err != nil {
		t.Errorf("skip_clean should keep the script: %v", err)
	}
}

func TestShellEnvVarFileAndCustomExecuteCommand(t *testing.T) {
	env, out, dir := newEnv(t)
	p := prepared(t, Config{
		Inline:          []string{`echo "v=$SECRETISH"`},
		EnvironmentVars: []string{"SECRETISH=a'b"},
		UseEnvVarFile:   true,
		RemoteFolder:    dir,
	})
	if err := p.Provision(context.Background(), env); err != nil {
		t.Fatalf("Provision: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "test.local: v=a'b") {
		t.Errorf("env var file not sourced:\n%s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "varfile_*")); len(left) != 0 {
		t.Errorf("env var file left behind: %v", left)
	}

	env, out, dir = newEnv(t)
	p = prepared(t, Config{Inline: []string{"echo $0"}, RemoteFolder: dir, RemoteFile: "x.sh", ExecuteCommand: "sh {{ .Path }} && echo custom"})
	if err := p.Provision(context.Background(), env); err != nil {
		t.Fatalf("Provision: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "test.local: custom") || !strings.Contains(out.String(), "x.sh") {
		t.Errorf("custom execute_command not used:\n%s", out)
	}
}

func TestShellPrepareRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing to run", Config{}, "exactly one of inline"},
		{"inline and script", Config{Inline: []string{"x"}, Script: "/etc/hostname"}, "exactly one of inline"},
		{"missing script", Config{Script: "/nonexistent/s.sh"}, "cannot be read"},
		{"bad env", Config{Inline: []string{"x"}, EnvironmentVars: []string{"NOEQUALS"}}, "KEY=value"},
		{"bad template", Config{Inline: []string{"x"}, ExecuteCommand: "{{.Path"}, "execute_command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Provisioner{cfg: tt.cfg}
			_, err := p.Prepare()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Prepare error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCRLFReaderKeepsLoneCarriageReturns(t *testing.T) {
	in := "a\r\nb\rc\r\n\r"
	var out bytes.Buffer
	r := newCRLFReader(&oneByteAtATime{strings.NewReader(in)})
	buf := make([]byte, 2)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if got, want := out.String(), "a\nb\rc\n\r"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

type oneByteAtATime struct{ r *strings.Reader }

func (o *oneByteAtATime) Read(p []byte) (int, error) { return o.r.Read(p[:1]) }

// A failed or cancelled script is removed from the machine too: on a host
// that outlives the build (the null builder's) nothing may stay behind.
func TestShellRemovesItsScriptAlsoWhenItFailsOrIsCancelled(t *testing.T) {
	for _, tt := range []struct {
		name   string
		inline []string
		cancel bool
	}{
		{"failed", []string{"exit 3"}, false},
		{"cancelled", []string{"echo started", "sleep 30"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, out, dir := newEnv(t)
			p := prepared(t, Config{Inline: tt.inline, RemoteFolder: dir, UseEnvVarFile: true})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				go func() {
					for !strings.Contains(out.String(), "started") {
						time.Sleep(10 * time.Millisecond)
					}
					cancel()
				}()
			}
			if err := p.Provision(ctx, env); err == nil {
				t.Fatal("Provision succeeded; the script was meant to fail or be cancelled")
			}
			left, _ := os.ReadDir(dir)
			for _, e := range left {
				t.Errorf("%s is left in the remote folder", e.Name())
			}
		})
	}
}
