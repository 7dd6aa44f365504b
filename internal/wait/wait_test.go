package wait

import (
	"context"
	"errors"
	"net"
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

// ForGreeting waits past a listener that accepts but says nothing (a
// forwarded port with no server behind it yet) until one greets.
func TestForGreetingWaitsForTheFirstLineNotTheConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	greetAfter := time.Now().Add(500 * time.Millisecond)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if time.Now().After(greetAfter) {
				c.Write([]byte("SSH-2.0-test\r\n"))
			}
			c.Close()
		}
	}()
	start := time.Now()
	if err := ForGreeting(context.Background(), l.Addr().String(), "SSH-", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(greetAfter) {
		t.Errorf("returned after %s, before the server greeted", time.Since(start))
	}
	if err := ForGreeting(context.Background(), "127.0.0.1:1", "SSH-", 300*time.Millisecond); err == nil {
		t.Error("a port nobody listens on counted as greeted")
	}
}
