// Package shelllocal is Packer's "shell-local" provisioner: it runs
// commands or scripts on the machine imgbuild runs on.
package shelllocal

import (
	"context"

	"github.com/imgbuild/imgbuild/internal/localshell"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/shellenv"
)

func init() {
	plugin.RegisterProvisioner("shell-local", func() plugin.Provisioner { return &Provisioner{} })
}

// Provisioner runs local commands during a build.
type Provisioner struct{ cfg localshell.Config }

// Config returns the options to decode into.
func (p *Provisioner) Config() any { return &p.cfg }

// Prepare fills defaults and checks the options.
func (p *Provisioner) Prepare() ([]string, error) { return nil, p.cfg.Prepare() }

// Provision runs the commands on this machine.
func (p *Provisioner) Provision(ctx context.Context, env *plugin.ProvisionEnv) error {
	return p.cfg.Run(ctx, env.UI, shellenv.PackerEnv(env.SourceName, env.SourceType, env.Generated))
}
