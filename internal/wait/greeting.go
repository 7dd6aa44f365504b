package wait

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// ForGreeting waits until a server at addr (host:port) accepts a TCP
// connection and sends a first line that starts with prefix, as an SSH
// server greets with "SSH-": a forwarded port accepts connections long
// before the guest's server behind it answers. It tries every 200 ms for
// at most within, and returns the context's cause as soon as ctx ends.
func ForGreeting(ctx context.Context, addr, prefix string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if greeted(ctx, addr, prefix) {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no server greeted on %s within %s", addr, within)
		}
		if err := Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func greeted(ctx context.Context, addr, prefix string) bool {
	conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, prefix)
}
