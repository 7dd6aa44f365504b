// Package file is Packer's core "file" builder: it writes one file on this
// machine, from content or from a source file, and that file is the
// artifact. Provisioners run without a machine: those that run here
// (shell-local, breakpoint) work; those that need a communicator say so.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/steps"
	"github.com/imgbuild/imgbuild/internal/stream"
)

// BuilderID is Packer's id for the file builder's artifacts.
const BuilderID = "packer.file"

func init() {
	plugin.RegisterBuilder("file", func() plugin.Builder { return &Builder{} })
}

// Config is the source block: the target and what to put in it.
type Config struct {
	Source  string `hcl:"source,optional"`
	Target  string `hcl:"target,optional"`
	Content string `hcl:"content,optional"`
}

// Builder writes Config.Target.
type Builder struct{ cfg Config }

// Config returns the block's configuration struct.
func (b *Builder) Config() any { return &b.cfg }

// Prepare checks the options as Packer does: target is required, source
// and content exclude each other, and neither makes an empty file.
func (b *Builder) Prepare() ([]string, error) {
	var warnings []string
	var errs []error
	if b.cfg.Target == "" {
		errs = append(errs, errors.New("target must be set: the file to write"))
	}
	switch {
	case b.cfg.Source != "" && b.cfg.Content != "":
		errs = append(errs, errors.New("set source or content, not both"))
	case b.cfg.Source == "" && b.cfg.Content == "":
		warnings = append(warnings, "neither source nor content is set: target will be an empty file")
	}
	return warnings, errors.Join(errs...)
}

type state struct {
	cfg  *Config
	data plugin.GeneratedData
	// written: target holds this build's file; done: the build succeeded
	// and the file is the artifact.
	written, done bool
}

// Run writes the file, then runs the provisioners.
func (b *Builder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	st := &state{cfg: &b.cfg, data: plugin.GeneratedData{}}
	for _, k := range plugin.CommonGeneratedKeys {
		st.data[k] = ""
	}
	st.data["PackerRunUUID"] = env.RunUUID
	err := steps.Run(ctx, st, env.StepOptions(),
		steps.Step[state]{Name: "write", Run: func(ctx context.Context, st *state) (steps.Cleanup, error) {
			// A build that fails leaves no file of its own behind.
			cleanup := func(context.Context) error {
				if st.written && !st.done {
					if err := os.Remove(st.cfg.Target); err != nil && !errors.Is(err, os.ErrNotExist) {
						return err
					}
				}
				return nil
			}
			return cleanup, write(ctx, st, env.UI)
		}},
		steps.Step[state]{Name: "provision", Run: func(ctx context.Context, st *state) (steps.Cleanup, error) {
			if env.Provision == nil {
				return nil, nil
			}
			return nil, env.Provision(ctx, nil, st.data)
		}},
		steps.Step[state]{Name: "finish", Run: func(context.Context, *state) (steps.Cleanup, error) {
			st.done = true
			return nil, nil
		}},
	)
	if err != nil {
		return nil, err
	}
	return &Artifact{path: b.cfg.Target, data: st.data}, nil
}

// write copies source (streamed, so any size) or writes content into the
// target, making its folder.
func write(ctx context.Context, st *state, ui plugin.UI) error {
	c := st.cfg
	if dir := filepath.Dir(c.Target); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("making the folder of target %s: %w", c.Target, err)
		}
	}
	if c.Source == "" {
		st.written = true
		if err := os.WriteFile(c.Target, []byte(c.Content), 0o600); err != nil {
			return fmt.Errorf("writing target %s: %w", c.Target, err)
		}
		return nil
	}
	src, err := os.Open(c.Source)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	dst, err := os.Create(c.Target)
	if err != nil {
		return fmt.Errorf("creating target %s: %w", c.Target, err)
	}
	st.written = true
	ui.Say(fmt.Sprintf("Copying %s to %s", c.Source, c.Target))
	n, err := io.Copy(dst, stream.Reader(ctx, src))
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copying %s to %s: %w", c.Source, c.Target, err)
	}
	ui.Say(fmt.Sprintf("Copied %d bytes", n))
	return nil
}

// Artifact is the written file.
type Artifact struct {
	path string
	data plugin.GeneratedData
}

func (a *Artifact) BuilderID() string { return BuilderID }
func (a *Artifact) ID() string        { return "File" }
func (a *Artifact) Files() []string   { return []string{a.path} }
func (a *Artifact) String() string    { return "Stored file: " + a.path }

// State returns "generated_data" (the build.* values); nil otherwise.
func (a *Artifact) State(name string) any {
	if name == "generated_data" {
		return a.data
	}
	return nil
}

// Destroy removes the file.
func (a *Artifact) Destroy(context.Context) error {
	if err := os.Remove(a.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
