package pluginhost

import (
	"context"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// Provisioner is a provisioner served by an installed plugin. It runs over
// the build's communicator (SSH, docker, or one a plugin builder serves),
// which imgbuild serves to it.
type Provisioner struct {
	*component
}

var (
	_ plugin.Provisioner      = (*Provisioner)(nil)
	_ plugin.SpecConfigurable = (*Provisioner)(nil)
)

// Config returns nil: the provisioner is configured through ConfigSpec.
func (p *Provisioner) Config() any { return nil }

// Prepare is not used (see plugin.SpecConfigurable).
func (p *Provisioner) Prepare() ([]string, error) { return nil, errSpecOnly }

// ConfigSpec asks the plugin for its options (once per provisioner type).
func (p *Provisioner) ConfigSpec() (hcldec.ObjectSpec, error) {
	return p.cachedSpec("config", func(pr *process) hcldec.ObjectSpec { return pr.client.Provisioner().ConfigSpec() })
}

// Configure runs the plugin's Prepare with Packer's core values and the
// decoded block (again, with the build's values, before it provisions).
func (p *Provisioner) Configure(cfg cty.Value, core plugin.CoreValues) ([]string, error) {
	return nil, p.configure("preparing "+p.label(), func(pr *process) error {
		return pr.client.Provisioner().Prepare(coreVars(core), cfg)
	})
}

// Provision runs the plugin's provisioner with the build's generated data
// as Packer passes it.
func (p *Provisioner) Provision(ctx context.Context, env *plugin.ProvisionEnv) error {
	return p.runLong(ctx, func(pr *process) error {
		return pr.client.Provisioner().Provision(ctx, newServedUI(ctx, env.UI), newServedComm(ctx, env.Comm), provisionerData(env))
	})
}
