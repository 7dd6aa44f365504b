// Package artifice is Packer's core "artifice" post-processor: the
// artifact becomes the files the template names (globs), typically files a
// provisioner downloaded from the machine; the builder's own artifact is
// kept, as in Packer.
package artifice

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// BuilderID is Packer's id for artifice's artifacts.
const BuilderID = "packer.post-processor.artifice"

func init() {
	plugin.RegisterPostProcessor("artifice", func() plugin.PostProcessor { return &PostProcessor{} })
}

// Config holds artifice's option.
type Config struct {
	Files []string `hcl:"files,optional"`
}

// PostProcessor replaces the artifact with files.
type PostProcessor struct{ cfg Config }

// Config returns the options to decode into.
func (p *PostProcessor) Config() any { return &p.cfg }

// Prepare requires files and checks that each pattern is a valid glob.
func (p *PostProcessor) Prepare() ([]string, error) {
	if len(p.cfg.Files) == 0 {
		return nil, errors.New("files must list the files (or globs) that become the artifact")
	}
	var errs []error
	for _, f := range p.cfg.Files {
		if _, err := filepath.Match(f, ""); err != nil {
			errs = append(errs, fmt.Errorf("files: %q is not a valid pattern: %w", f, err))
		}
	}
	return nil, errors.Join(errs...)
}

// PostProcess makes the artifact of the files the patterns match now; a
// pattern that matches nothing adds nothing, as in Packer.
func (p *PostProcessor) PostProcess(_ context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	if files := in.Files(); len(files) > 0 {
		env.UI.Say("Discarding files from artifact: " + strings.Join(files, ", "))
	}
	var files []string
	for _, pattern := range p.cfg.Files {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, false, false, fmt.Errorf("artifice: files %q: %w", pattern, err)
		}
		files = append(files, matches...)
	}
	env.UI.Say("Using these artifact files: " + strings.Join(files, ", "))
	return &Artifact{files: files}, true, false, nil
}

// Artifact is the files artifice names.
type Artifact struct{ files []string }

func (a *Artifact) BuilderID() string { return BuilderID }
func (a *Artifact) ID() string        { return "" }
func (a *Artifact) Files() []string   { return a.files }
func (a *Artifact) String() string {
	return "Created artifact from files: " + strings.Join(a.files, ", ")
}
func (a *Artifact) State(string) any { return nil }

// Destroy removes the files (a later post-processor that does not keep
// its input).
func (a *Artifact) Destroy(context.Context) error {
	var errs []error
	for _, f := range a.files {
		if err := os.RemoveAll(f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
