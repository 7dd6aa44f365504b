package dockersave

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

func init() {
	plugin.RegisterPostProcessor("docker-save", func() plugin.PostProcessor { return &PostProcessor{} })
}

// Config holds Packer's docker-save options.
type Config struct {
	Path string `hcl:"path"`
}

// PostProcessor saves an image to a file.
type PostProcessor struct{ config Config }

func (p *PostProcessor) Config() any { return &p.config }

func (p *PostProcessor) Prepare() ([]string, error) {
	if p.config.Path == "" {
		return nil, errors.New("path must be set (the tar file to write)")
	}
	if st, err := os.Stat(p.config.Path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("path %q is a directory: give the tar file to write", p.config.Path)
	}
	return nil, nil
}

// PostProcess streams the engine's save output to path and passes the
// image on unchanged, as Packer does.
func (p *PostProcessor) PostProcess(ctx context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	if err := dockerengine.Accepts(in, "docker-save", "an image from docker-tag, docker-import or the docker builder (commit = true)",
		dockerengine.BuilderIDImage, dockerengine.BuilderIDTag); err != nil {
		return nil, false, false, err
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return nil, false, false, err
	}
	defer cli.Close()

	path := p.config.Path
	env.UI.Message("Saving image: " + in.ID())
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, false, fmt.Errorf("docker-save: %w", err)
	}
	// Written beside the target then renamed: never a truncated file
	// under the final name.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".imgbuild-*")
	if err != nil {
		return nil, false, false, fmt.Errorf("docker-save: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	rc, err := cli.ImageSave(ctx, []string{in.ID()})
	if err == nil {
		r := env.UI.TrackProgress("Saving "+filepath.Base(path), -1, rc)
		_, err = io.Copy(tmp, r)
		r.Close()
	}
	if err == nil {
		err = tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("saving image %s to %s: %w", in.ID(), path, err)
	}
	env.UI.Message("Saved to: " + path)
	return in, true, false, nil
}
