package shell

import "github.com/imgbuild/imgbuild/internal/plugin"

var _ plugin.InputFiler = (*Provisioner)(nil)

// InputFiles lists the local scripts the provisioner uploads, for the
// step cache's key. Inline commands are part of the configuration.
func (p *Provisioner) InputFiles() []string { return p.cfg.Scripts }
