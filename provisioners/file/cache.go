package file

import "github.com/imgbuild/imgbuild/internal/plugin"

var (
	_ plugin.InputFiler   = (*Provisioner)(nil)
	_ plugin.HostEffecter = (*Provisioner)(nil)
)

// InputFiles lists the local files and folders an upload reads, for the
// step cache's key (content is hashed by the orchestrator). A download
// reads nothing local.
func (p *Provisioner) InputFiles() []string {
	if p.cfg.Direction == "download" {
		return nil
	}
	return p.cfg.Sources
}

// HostEffects is true for downloads: they write to the host, which a
// cached rebuild would skip.
func (p *Provisioner) HostEffects() bool { return p.cfg.Direction == "download" }
