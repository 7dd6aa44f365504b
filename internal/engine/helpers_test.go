package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgbuild/imgbuild/internal/communicator/local"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/steps"
	"github.com/imgbuild/imgbuild/internal/template"
	"github.com/imgbuild/imgbuild/internal/ui"
	"github.com/imgbuild/imgbuild/provisioners/shell"
)

// dirBuilder is a real, small builder: its "machine" is a temporary
// folder on this host, reached through the local communicator, removed by
// its step's cleanup.
type dirBuilder struct {
	root string // where machines are created
}

type dirState struct{ machine string }

func (b *dirBuilder) Config() any                { return b }
func (b *dirBuilder) Prepare() ([]string, error) { return nil, nil }

func (b *dirBuilder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	var st dirState
	opts := steps.Options{BeforeStep: env.Steps.BeforeStep, Retry: env.Steps.Retry, KeepOnFailure: env.Steps.KeepOnFailure}
	err := steps.Run(ctx, &st, opts,
		steps.Step[dirState]{Name: "create machine", Run: func(ctx context.Context, s *dirState) (steps.Cleanup, error) {
			dir, err := os.MkdirTemp(b.root, "machine-")
			if err != nil {
				return nil, err
			}
			s.machine = dir
			env.UI.Say("Created machine " + filepath.Base(dir))
			return func(context.Context) error {
				env.UI.Say("Removing machine " + filepath.Base(dir))
				return os.RemoveAll(dir)
			}, nil
		}},
		steps.Step[dirState]{Name: "provision", Run: func(ctx context.Context, s *dirState) (steps.Cleanup, error) {
			return nil, env.Provision(ctx, &local.Comm{Dir: s.machine}, plugin.GeneratedData{"ID": s.machine})
		}},
	)
	if err != nil {
		return nil, err
	}
	return newArtifact("image-" + env.Name), nil
}

// machines lists the machine folders left under root.
func machines(t *testing.T, root string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(root, "machine-*"))
	return m
}

type testArtifact struct {
	id        string
	destroyed atomic.Bool
}

func newArtifact(id string) *testArtifact             { return &testArtifact{id: id} }
func (a *testArtifact) BuilderID() string             { return "imgbuild.test" }
func (a *testArtifact) ID() string                    { return a.id }
func (a *testArtifact) Files() []string               { return []string{"/out/" + a.id} }
func (a *testArtifact) String() string                { return "Test artifact: " + a.id }
func (a *testArtifact) State(string) any              { return nil }
func (a *testArtifact) Destroy(context.Context) error { a.destroyed.Store(true); return nil }

// shellPlan is a provisioner block running the real shell provisioner.
func shellPlan(inline ...string) *template.ProvisionerPlan {
	return &template.ProvisionerPlan{
		Type: "shell",
		Configure: func(gen plugin.GeneratedData) (plugin.Provisioner, hcl.Diagnostics) {
			p := &shell.Provisioner{}
			cfg := p.Config().(*shell.Config)
			cfg.Inline = inline
			cfg.RemoteFolder = gen["ID"] // inside the machine folder
			if _, err := p.Prepare(); err != nil {
				return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: err.Error()}}
			}
			return p, nil
		},
	}
}

func dirPlan(root, name string, provs ...*template.ProvisionerPlan) *template.BuildPlan {
	return &template.BuildPlan{
		Name:         "test." + name,
		SourceType:   "test",
		SourceName:   name,
		Builder:      &dirBuilder{root: root},
		Provisioners: provs,
	}
}

// syncBuffer is shared by stdout, stderr and parallel builds.
type syncBuffer = testenv.SyncBuffer

func runner(out *syncBuffer, mod func(*Options)) *Runner {
	opts := Options{UI: ui.New(ui.Options{Out: out}), RunUUID: "run-uuid-1"}
	if mod != nil {
		mod(&opts)
	}
	return NewRunner(opts)
}

// testPP is a post-processor that wraps its input in a new artifact.
type testPP struct {
	keep, force bool
	fail        bool
	made        *testArtifact
}

func (p *testPP) Config() any                { return p }
func (p *testPP) Prepare() ([]string, error) { return nil, nil }
func (p *testPP) PostProcess(_ context.Context, _ *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	if p.fail {
		return nil, false, false, fmt.Errorf("deliberate failure")
	}
	p.made = newArtifact(in.ID() + "+pp")
	return p.made, p.keep, p.force, nil
}

func ppPlan(p *testPP, keepInput *bool) *template.PostProcessorPlan {
	return &template.PostProcessorPlan{
		Type:              "test-pp",
		KeepInputArtifact: keepInput,
		Configure: func(plugin.GeneratedData) (plugin.PostProcessor, hcl.Diagnostics) {
			return p, nil
		},
	}
}
