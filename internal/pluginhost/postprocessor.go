package pluginhost

import (
	"context"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// PostProcessor is a post-processor served by an installed plugin. Its
// input may be a native artifact (served to the plugin) or another
// plugin's (passed through); its output is the plugin's artifact.
type PostProcessor struct {
	*component
}

var (
	_ plugin.PostProcessor    = (*PostProcessor)(nil)
	_ plugin.SpecConfigurable = (*PostProcessor)(nil)
)

// Config returns nil: the post-processor is configured through ConfigSpec.
func (pp *PostProcessor) Config() any { return nil }

// Prepare is not used (see plugin.SpecConfigurable).
func (pp *PostProcessor) Prepare() ([]string, error) { return nil, errSpecOnly }

// ConfigSpec asks the plugin for its options (once per type).
func (pp *PostProcessor) ConfigSpec() (hcldec.ObjectSpec, error) {
	return pp.cachedSpec("config", func(p *process) hcldec.ObjectSpec { return p.client.PostProcessor().ConfigSpec() })
}

// Configure runs the plugin's Configure with Packer's core values and the
// decoded block.
func (pp *PostProcessor) Configure(cfg cty.Value, core plugin.CoreValues) ([]string, error) {
	return nil, pp.configure("configuring "+pp.label(), func(p *process) error {
		return p.client.PostProcessor().Configure(coreVars(core), cfg)
	})
}

// PostProcess runs the plugin's post-processor on in.
func (pp *PostProcessor) PostProcess(ctx context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	var (
		out         packersdk.Artifact
		keep, force bool
		proc        *process
	)
	err := pp.runLong(ctx, func(p *process) error {
		proc = p
		var err error
		out, keep, force, err = p.client.PostProcessor().PostProcess(ctx, newServedUI(ctx, env.UI), sdkArtifact(in))
		return err
	})
	if err != nil {
		return nil, false, false, err
	}
	if out == nil {
		return nil, keep, force, nil
	}
	return &remoteArtifact{remote: out, proc: proc}, keep, force, nil
}
