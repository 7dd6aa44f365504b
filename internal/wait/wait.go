// Package wait has the one way imgbuild pauses: for a while, or until its
// context ends, whichever comes first.
package wait

import (
	"context"
	"time"
)

// Sleep waits for d, or returns the context's cause as soon as ctx ends.
// d <= 0 returns at once (with the cause if ctx has ended).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
