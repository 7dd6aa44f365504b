package sleep

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The wait lasts duration, ends at once when the build is cancelled, and
// may not be negative.
func TestSleepWaitsAndStopsOnCancel(t *testing.T) {
	p := &Provisioner{}
	p.Config().(*Config).Duration = 50 * time.Millisecond
	if _, err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Provision(context.Background(), nil); err != nil || time.Since(start) < 50*time.Millisecond {
		t.Errorf("Provision = %v after %v, want nil after at least 50ms", err, time.Since(start))
	}
	p.Config().(*Config).Duration = time.Hour
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("interrupted")
	go func() { time.Sleep(20 * time.Millisecond); cancel(stop) }()
	if err := p.Provision(ctx, nil); !errors.Is(err, stop) {
		t.Errorf("cancelled: %v, want the cancellation's cause", err)
	}
	p.Config().(*Config).Duration = -time.Second
	if _, err := p.Prepare(); err == nil {
		t.Error("a negative duration was accepted")
	}
}
