package engine

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
		// One question, Packer's three answers. Retry is asked first by the
		// step runner; a "clean up" or "abort" answer is kept for the
		// KeepOnFailure call that follows.
		var keep bool
		h.Retry = func(step string, err error) bool {
			ctx := context.Background()
			b.ui.Error(fmt.Sprintf("Step %q failed: %s", step, err))
			for {
				ans, aerr := b.ui.Ask(ctx, "[c] Clean up and exit, [a] abort without cleanup, or [r] retry step (build may fail even if retry succeeds)? ")
				if aerr != nil {
					b.ui.Error(fmt.Sprintf("No answer (%s): cleaning up.", aerr))
					keep = false
					return false
				}
				switch strings.ToLower(strings.TrimSpace(ans)) {
				case "c", "cleanup":
					keep = false
					return false
				case "a", "abort":
					keep = true
					return false
				case "r", "retry":
					return true
				}
			}
		}
		h.KeepOnFailure = func(err error) bool { return keep }
	}
	return h
}
