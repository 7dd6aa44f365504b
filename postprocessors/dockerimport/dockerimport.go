package dockerimport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

func init() {
	plugin.RegisterPostProcessor("docker-import", func() plugin.PostProcessor { return &PostProcessor{} })
}

// Config holds Packer's docker-import options.
type Config struct {
	Repository string   `hcl:"repository"`
	Tag        string   `hcl:"tag,optional"`
	Changes    []string `hcl:"changes,optional"`
	Platform   string   `hcl:"platform,optional"`
}

// PostProcessor imports a tarball as an image.
type PostProcessor struct{ config Config }

func (p *PostProcessor) Config() any { return &p.config }

func (p *PostProcessor) Prepare() ([]string, error) {
	var errs []error
	c := &p.config
	if c.Repository == "" {
		errs = append(errs, errors.New("repository must be set (the name of the imported image)"))
	} else if _, err := reference.ParseNormalizedNamed(c.ref()); err != nil {
		errs = append(errs, fmt.Errorf("repository and tag %q do not make a valid image name: %v", c.ref(), err))
	}
	for i, ch := range c.Changes {
		if err := dockerengine.CheckChange(ch); err != nil {
			errs = append(errs, fmt.Errorf("changes[%d]: %w", i, err))
		}
	}
	return nil, errors.Join(errs...)
}

func (c *Config) ref() string {
	if c.Tag == "" {
		return c.Repository
	}
	return c.Repository + ":" + c.Tag
}

// PostProcess streams the tarball to the engine's import call. The
// tarball is not kept unless keep_input_artifact says so, as in Packer.
func (p *PostProcessor) PostProcess(ctx context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	if err := dockerengine.Accepts(in, "docker-import", "a tarball from the docker builder (export_path) or artifice; "+
		"an image committed with commit = true is already in the engine: use docker-tag",
		dockerengine.BuilderIDExport, "packer.post-processor.artifice"); err != nil {
		return nil, false, false, err
	}
	files := in.Files()
	if len(files) == 0 {
		return nil, false, false, errors.New("docker-import: the artifact has no file to import (discard = true exports nothing: use export_path)")
	}
	f, err := os.Open(files[0])
	if err != nil {
		return nil, false, false, fmt.Errorf("docker-import: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return nil, false, false, err
	}
	defer cli.Close()

	ref := p.config.ref()
	env.UI.Message("Importing image: " + files[0])
	env.UI.Message("Repository: " + ref)
	src := env.UI.TrackProgress("Importing "+filepath.Base(files[0]), size, f)
	defer src.Close()
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: src, SourceName: "-"}, ref,
		image.ImportOptions{Changes: p.config.Changes, Platform: p.config.Platform})
	var id string
	if err == nil {
		id, err = dockerengine.ReadStream(rc, nil)
		rc.Close()
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("importing %s as %s: %w", files[0], ref, err)
	}
	env.UI.Message("Imported ID: " + id)
	return &dockerengine.ImageArtifact{
		BuilderIDValue: dockerengine.BuilderIDImage,
		Ref:            ref,
		Generated:      dockerengine.GeneratedOf(in),
	}, false, false, nil
}
