package dockertag

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/distribution/reference"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

func init() {
	plugin.RegisterPostProcessor("docker-tag", func() plugin.PostProcessor { return &PostProcessor{} })
}

// Config holds Packer's docker-tag options.
type Config struct {
	Repository string   `hcl:"repository"`
	Tags       []string `hcl:"tags,optional"`
	// Tag is Packer's older spelling of tags (also a list).
	Tag []string `hcl:"tag,optional"`
	// Force is accepted: the engine's tag call always moves an existing tag.
	Force      bool   `hcl:"force,optional"`
	DockerPath string `hcl:"docker_path,optional"`
}

// PostProcessor tags an image.
type PostProcessor struct{ config Config }

func (p *PostProcessor) Config() any { return &p.config }

var tagPattern = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)

func (p *PostProcessor) Prepare() ([]string, error) {
	var warnings []string
	var errs []error
	c := &p.config
	if len(c.Tag) > 0 {
		warnings = append(warnings, `"tag" is deprecated in docker-tag: use "tags"`)
		c.Tags = append(c.Tags, c.Tag...)
		c.Tag = nil
	}
	if c.Repository == "" {
		errs = append(errs, errors.New("repository must be set (for example \"myorg/app\" or \"127.0.0.1:5000/app\")"))
	}
	// The names themselves are checked when the image is tagged, as Packer
	// leaves them to the engine: validate accepts what Packer accepts.
	if c.DockerPath != "" {
		warnings = append(warnings, "docker_path is ignored: imgbuild talks to the Docker Engine API")
	}
	return warnings, errors.Join(errs...)
}

// PostProcess tags the image as repository:tag for each tag (or as
// repository alone, which the engine makes :latest). The input image is
// always kept: removing what was just tagged would make the tag pointless.
func (p *PostProcessor) PostProcess(ctx context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	if err := dockerengine.Accepts(in, "docker-tag", "an image from the docker builder (commit = true), docker-import or docker-tag",
		dockerengine.BuilderIDImage, dockerengine.BuilderIDTag); err != nil {
		return nil, false, true, err
	}
	if err := checkNames(p.config.Repository, p.config.Tags); err != nil {
		return nil, false, true, err
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return nil, false, true, err
	}
	defer cli.Close()

	refs := []string{p.config.Repository}
	if len(p.config.Tags) > 0 {
		refs = refs[:0]
		for _, t := range p.config.Tags {
			refs = append(refs, p.config.Repository+":"+t)
		}
	}
	for _, ref := range refs {
		env.UI.Message("Tagging image: " + in.ID())
		env.UI.Message("Repository: " + ref)
		if err := cli.ImageTag(ctx, in.ID(), ref); err != nil {
			return nil, false, true, fmt.Errorf("tagging image %s as %s: %w", in.ID(), ref, err)
		}
	}
	var tagged []string
	if len(p.config.Tags) > 0 {
		tagged = refs
	}
	return &dockerengine.ImageArtifact{
		BuilderIDValue: dockerengine.BuilderIDTag,
		Ref:            refs[len(refs)-1],
		Tags:           tagged,
		Generated:      dockerengine.GeneratedOf(in),
	}, true, true, nil
}

// checkNames says, before the engine does, what is wrong with a
// repository or tag.
func checkNames(repository string, tags []string) error {
	var errs []error
	if _, err := reference.ParseNormalizedNamed(repository); err != nil {
		errs = append(errs, fmt.Errorf("docker-tag: repository %q is not a valid image name: %v (use lower case, digits and . _ - /)", repository, err))
	}
	for _, t := range tags {
		if !tagPattern.MatchString(t) {
			errs = append(errs, fmt.Errorf("docker-tag: tag %q is not valid: use up to 128 letters, digits, _ . and -, not starting with . or -", t))
		}
	}
	return errors.Join(errs...)
}
