package build

import (
	"context"
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// stepHooks maps -debug and -on-error onto the builder's step runner.
func (b *buildRun) stepHooks() plugin.StepHooks {
	var h plugin.StepHooks
	if b.opts.Debug {
		h.BeforeStep = func(ctx context.Context, step string) error {
			_, err := b.ui.Ask(ctx, fmt.Sprintf("Pausing before step %q. Press enter to continue.", step))
			if err != nil {
				return fmt.Errorf("waiting at -debug pause before %s: %w", step, err)
			}
			return nil
		}
	}
	switch b.opts.OnError {
	case OnErrorAbort, OnErrorRunCleanupProvisioner:
		h.KeepOnFailure = func(err error) bool {
			b.ui.Error(fmt.Sprintf("Build failed; -on-error=%s keeps its resources for inspection: %s", b.opts.OnError, err))
			return true
		}
	case OnErrorAsk:
		h.KeepOnFailure = func(err error) bool {
			// A cancelled build cannot wait for an answer: clean up.
			ctx := context.Background()
			b.ui.Error(fmt.Sprintf("Step failed: %s", err))
			for {
				ans, aerr := b.ui.Ask(ctx, "[c] Clean up and exit, [a] abort without cleanup: ")
				if aerr != nil {
					b.ui.Error(fmt.Sprintf("No answer (%s): cleaning up.", aerr))
					return false
				}
				switch strings.ToLower(ans) {
				case "c", "cleanup":
					return false
				case "a", "abort":
					return true
				}
			}
		}
	}
	return h
}
