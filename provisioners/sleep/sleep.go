// Package sleep is Packer's core "sleep" provisioner: it waits for
// duration (a Packer duration such as "30s"), on the build's context, so
// Ctrl-C and timeouts end the wait at once.
package sleep

import (
	"context"
	"errors"
	"time"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/wait"
)

func init() {
	plugin.RegisterProvisioner("sleep", func() plugin.Provisioner { return &Provisioner{} })
}

// Config holds the option, named as Packer's.
type Config struct {
	Duration time.Duration `hcl:"duration,optional"`
}

// Provisioner waits.
type Provisioner struct{ cfg Config }

// Config returns the options to decode into.
func (p *Provisioner) Config() any { return &p.cfg }

// Prepare refuses a negative wait.
func (p *Provisioner) Prepare() ([]string, error) {
	if p.cfg.Duration < 0 {
		return nil, errors.New("duration must not be negative")
	}
	return nil, nil
}

// Provision waits for the duration or until the build is cancelled.
func (p *Provisioner) Provision(ctx context.Context, _ *plugin.ProvisionEnv) error {
	return wait.Sleep(ctx, p.cfg.Duration)
}
