package pluginhost

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// Builder is a builder served by an installed plugin.
type Builder struct {
	*component
	generated []string
}

var (
	_ plugin.Builder          = (*Builder)(nil)
	_ plugin.SpecConfigurable = (*Builder)(nil)
	_ plugin.GeneratedKeyser  = (*Builder)(nil)
)

// Config returns nil: the builder is configured through ConfigSpec.
func (b *Builder) Config() any { return nil }

// Prepare is not used (see plugin.SpecConfigurable).
func (b *Builder) Prepare() ([]string, error) { return nil, errSpecOnly }

// ConfigSpec asks the plugin for its options (once per builder type).
func (b *Builder) ConfigSpec() (hcldec.ObjectSpec, error) {
	return b.cachedSpec("config", func(p *process) hcldec.ObjectSpec { return p.client.Builder().ConfigSpec() })
}

// Configure runs the plugin's Prepare with Packer's core values and the
// decoded block, and keeps the build.* names it returns.
func (b *Builder) Configure(cfg cty.Value, core plugin.CoreValues) ([]string, error) {
	var warnings []string
	err := b.configure("preparing "+b.label(), func(p *process) error {
		gen, warns, err := p.client.Builder().Prepare(coreVars(core), cfg)
		b.generated, warnings = gen, warns
		return err
	})
	return warnings, err
}

// GeneratedKeys are the build.* names the plugin's Prepare announced.
func (b *Builder) GeneratedKeys() []string { return append([]string(nil), b.generated...) }

// Run runs the plugin's build. The plugin asks for the build's
// provisioners through the packer_provision hook; they run here, over
// the communicator the plugin serves.
func (b *Builder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	var art packersdk.Artifact
	var proc *process
	err := b.runLong(ctx, func(p *process) error {
		proc = p
		a, err := p.client.Builder().Run(ctx, newServedUI(ctx, env.UI), &provisionHook{ctx: ctx, env: env})
		art = a
		return err
	})
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		// Plugins return no artifact and no error when cancelled.
		return nil, fmt.Errorf("the build was cancelled: %w", context.Cause(ctx))
	}
	if art == nil {
		return nil, nil
	}
	return &remoteArtifact{remote: art, proc: proc}, nil
}
