// Package breakpoint is Packer's "breakpoint" provisioner: it pauses the
// build until the user presses Enter, so the machine can be inspected.
package breakpoint

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

func init() {
	plugin.RegisterProvisioner("breakpoint", func() plugin.Provisioner { return &Provisioner{} })
}

// Config holds the breakpoint's options, named as Packer's.
type Config struct {
	Disable bool   `hcl:"disable,optional"`
	Note    string `hcl:"note,optional"`
}

// Provisioner pauses the build.
type Provisioner struct{ cfg Config }

// Config returns the options to decode into.
func (p *Provisioner) Config() any { return &p.cfg }

// Prepare has nothing to check.
func (p *Provisioner) Prepare() ([]string, error) { return nil, nil }

// asker is implemented by imgbuild's UI: it reads answers for all builds
// from one input, one question at a time.
type asker interface {
	Ask(ctx context.Context, prompt string) (string, error)
}

// Provision waits for Enter unless the breakpoint is disabled.
func (p *Provisioner) Provision(ctx context.Context, env *plugin.ProvisionEnv) error {
	if p.cfg.Disable {
		env.UI.Say("Breakpoint disabled, continuing...")
		return nil
	}
	prompt := "Pausing at breakpoint provisioner. Press enter to continue."
	if p.cfg.Note != "" {
		prompt = fmt.Sprintf("Pausing at breakpoint provisioner with note %q. Press enter to continue.", p.cfg.Note)
	}
	if a, ok := env.UI.(asker); ok {
		if _, err := a.Ask(ctx, prompt); err != nil {
			return fmt.Errorf("waiting at the breakpoint: %w", err)
		}
		return nil
	}
	env.UI.Say(prompt)
	done := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(os.Stdin).ReadString('\n')
		done <- err
	}()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case err := <-done:
		if err != nil {
			return fmt.Errorf("waiting at the breakpoint: reading stdin: %w", err)
		}
		return nil
	}
}
