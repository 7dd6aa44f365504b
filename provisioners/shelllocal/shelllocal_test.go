package shelllocal

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/localshell"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func provision(t *testing.T, cfg localshell.Config) (string, error) {
	t.Helper()
	p := &Provisioner{cfg: cfg}
	if _, err := p.Prepare(); err != nil {
		return "", err
	}
	var out bytes.Buffer
	err := p.Provision(context.Background(), &plugin.ProvisionEnv{
		UI: ui.New(ui.Options{Out: &out}).Build("test.l"), SourceName: "l", SourceType: "test",
		Generated: plugin.GeneratedData{},
	})
	return out.String(), err
}

func TestShellLocalRunsInlineWithVarsAndPackerEnv(t *testing.T) {
	out, err := provision(t, localshell.Config{
		Inline:          []string{`echo "build=$PACKER_BUILD_NAME v=$V"`},
		EnvironmentVars: []string{"V=a 'quoted' value"},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "    test.l: build=l v=a 'quoted' value") {
		t.Errorf("output:\n%s", out)
	}
}

func TestShellLocalScriptsCommandAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho from script\nexit 4\n"), 0o755)
	tests := []struct {
		name    string
		cfg     localshell.Config
		want    string
		wantErr string
	}{
		{"command", localshell.Config{Command: "echo one command"}, "test.l: one command", ""},
		{"script failing", localshell.Config{Script: script}, "test.l: from script", "exit status: 4"},
		{"script with allowed code", localshell.Config{Script: script, ValidExitCodes: []int{4}}, "test.l: from script", ""},
		{"custom execute_command", localshell.Config{Inline: []string{"echo hi"}, ExecuteCommand: []string{"/bin/sh", "-c", "echo custom; {{.Vars}} /bin/sh {{.Script}}"}}, "test.l: custom", ""},
		{"only_on another OS skips", localshell.Config{Command: "echo ran", OnlyOn: []string{"plan9"}}, "Skipping shell-local", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := provision(t, tt.cfg)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q\n%s", err, tt.wantErr, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}

func TestShellLocalPrepareNeedsExactlyOneThingToRun(t *testing.T) {
	for _, cfg := range []localshell.Config{{}, {Command: "x", Script: "/etc/hostname"}} {
		if _, err := provision(t, cfg); err == nil || !strings.Contains(err.Error(), "exactly one") {
			t.Errorf("%+v: err = %v", cfg, err)
		}
	}
}
