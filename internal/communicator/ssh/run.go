package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// Run runs cmd.Command through the remote user's shell and returns its exit
// status. Output streams to cmd.Stdout and cmd.Stderr as it comes (with
// ssh_pty both arrive on Stdout, as a terminal merges them). When the
// connection drops before the status is known, the error wraps
// communicator.ErrDisconnected. Cancelling ctx kills the remote command.
func (c *Comm) Run(ctx context.Context, cmd *communicator.Cmd) (int, error) {
	client, err := c.client(ctx)
	if err != nil {
		return -1, fmt.Errorf("running %q: %w", cmd.Command, err)
	}
	sess, err := client.NewSession()
	if err != nil {
		return -1, fmt.Errorf("running %q: opening an ssh session: %w", cmd.Command, c.lost(err))
	}
	defer sess.Close()
	sess.Stdin, sess.Stdout, sess.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	if c.agentToForward() != "" {
		// A server that refuses forwarding still runs the command, as
		// OpenSSH's client does.
		agent.RequestAgentForwarding(sess)
	}
	if c.cfg.SSHPty {
		modes := gossh.TerminalModes{gossh.ECHO: 0, gossh.TTY_OP_ISPEED: 14400, gossh.TTY_OP_OSPEED: 14400}
		if err := sess.RequestPty("xterm", 40, 80, modes); err != nil {
			return -1, fmt.Errorf("running %q: requesting a pty: %w", cmd.Command, c.lost(err))
		}
	}
	if err := sess.Start(cmd.Command); err != nil {
		return -1, fmt.Errorf("running %q: %w", cmd.Command, c.lost(err))
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// OpenSSH honours signals from 7.9 on; closing the channel
		// hangs up the command on older servers.
		sess.Signal(gossh.SIGKILL)
		sess.Close()
		return -1, fmt.Errorf("running %q: %w", cmd.Command, context.Cause(ctx))
	}
	if err == nil {
		return 0, nil
	}
	var exit *gossh.ExitError
	if errors.As(err, &exit) {
		return exit.ExitStatus(), nil
	}
	return -1, fmt.Errorf("running %q: the connection was lost before the command finished (%v): %w",
		cmd.Command, err, communicator.ErrDisconnected)
}

// lost wraps err with ErrDisconnected when the connection is gone.
func (c *Comm) lost(err error) error {
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if cur == nil || cur.isDead() || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%v: %w", err, communicator.ErrDisconnected)
	}
	return err
}
