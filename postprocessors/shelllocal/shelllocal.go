// Package shelllocal is Packer's "shell-local" post-processor: it runs
// commands on this machine after a build, with the build's variables, and
// passes the artifact on unchanged.
package shelllocal

import (
	"context"

	"github.com/imgbuild/imgbuild/internal/localshell"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/shellenv"
)

func init() {
	plugin.RegisterPostProcessor("shell-local", func() plugin.PostProcessor { return &PostProcessor{} })
}

// PostProcessor runs local commands.
type PostProcessor struct{ cfg localshell.Config }

// Config returns the options to decode into (the provisioner's options).
func (p *PostProcessor) Config() any { return &p.cfg }

// Prepare fills defaults and checks the options.
func (p *PostProcessor) Prepare() ([]string, error) { return nil, p.cfg.Prepare() }

// PostProcess runs the commands. Like Packer's, it always keeps its input:
// it only passes the artifact forward.
func (p *PostProcessor) PostProcess(ctx context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	if err := p.cfg.Run(ctx, env.UI, shellenv.PackerEnv(env.SourceName, env.SourceType, env.Generated)); err != nil {
		return nil, false, false, err
	}
	return in, true, true, nil
}
