package wait

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleepEndsWithItsDurationOrItsContext(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("a plain sleep: %v", err)
	}
	cause := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, cause) {
		t.Errorf("a cancelled sleep: %v, want the cause", err)
	}
	if time.Since(start) > time.Second {
		t.Error("a cancelled sleep did not return at once")
	}
	if err := Sleep(ctx, 0); !errors.Is(err, cause) {
		t.Errorf("a zero sleep on an ended context: %v", err)
	}
}
