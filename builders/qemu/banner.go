package qemu

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// waitForSSHBanner waits until addr sends an SSH banner. QEMU's user-mode
// network accepts connections on a forwarded port before the guest listens
// and then holds them silently while the guest's network is down; an SSH
// client that connected that early would sit in its handshake timeout.
// Probing with short-lived connections finds the moment sshd answers.
func waitForSSHBanner(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = probeBanner(ctx, addr); last == nil {
			return nil
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			if context.Cause(ctx) == context.DeadlineExceeded {
				return fmt.Errorf("no SSH server answered on %s within ssh_timeout (%s) (last: %v): check that the guest runs sshd on ssh_port", addr, timeout, last)
			}
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

func probeBanner(ctx context.Context, addr string) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the SSH banner: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("not an SSH server (it said %q)", strings.TrimSpace(line))
	}
	return nil
}
