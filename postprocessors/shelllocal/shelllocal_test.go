package shelllocal

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/localshell"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/ui"
)

type art struct{}

func (art) BuilderID() string             { return "packer.docker" }
func (art) ID() string                    { return "sha256:1" }
func (art) Files() []string               { return nil }
func (art) String() string                { return "image" }
func (art) State(string) any              { return nil }
func (art) Destroy(context.Context) error { return nil }

func TestShellLocalPostProcessorRunsWithBuildVarsAndKeepsInput(t *testing.T) {
	tests := []struct {
		name    string
		cfg     localshell.Config
		want    string
		wantErr bool
	}{
		{"passes the artifact on", localshell.Config{Inline: []string{`echo "pp for $PACKER_BUILD_NAME/$PACKER_BUILDER_TYPE"`}}, "docker.hello: pp for hello/docker", false},
		{"failure fails", localshell.Config{Command: "echo no; exit 2"}, "docker.hello: no", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &PostProcessor{cfg: tt.cfg}
			if _, err := p.Prepare(); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			env := &plugin.PostProcessEnv{UI: ui.New(ui.Options{Out: &out}).Build("docker.hello"), SourceName: "hello", SourceType: "docker"}
			res, keep, force, err := p.PostProcess(context.Background(), env, art{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && (res != (art{}) || !keep || !force) {
				t.Errorf("want the input passed on and kept")
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
}
