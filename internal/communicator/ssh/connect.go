// Package ssh is the SSH communicator: it runs commands and moves files on a
// machine over SSH (golang.org/x/crypto/ssh), with scp or sftp transfers.
//
// Builders call Connect once their machine has an address (after
// GenerateKeyPair, when they make a temporary key), hand the Comm to the
// provisioners, and Close it. Connect and Reconnect say on the UI that they
// are waiting and when they are connected, so builders need not.
//
// Host keys: by default the key seen first is accepted and recorded (a
// machine being built has fresh keys nobody could have listed); the
// imgbuild-only option ssh_known_hosts_file pins them instead.
//
// A connection that drops (a reboot) makes Run return an error wrapping
// communicator.ErrDisconnected; Reconnect, or simply the next Run or
// transfer, waits for SSH again.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/wait"
)

// The three ways waiting for SSH can end badly. Connect's error wraps one
// of them (errors.Is) and says what was last seen.
var (
	// ErrAuthFailed: the machine answered SSH but refused the credentials.
	ErrAuthFailed = errors.New("ssh authentication failed")
	// ErrUnreachable: nothing accepted an SSH connection at the address
	// before ssh_timeout (refused, no route, unknown host, or a port
	// forward with nothing behind it).
	ErrUnreachable = errors.New("ssh host unreachable")
	// ErrTimeout: connections were accepted (or hung) but no SSH session
	// could be set up before ssh_timeout.
	ErrTimeout = errors.New("timed out waiting for ssh")
)

// Retry pacing. Refused connections are cheap: retry quickly so that a
// machine is used the moment its SSH server is up. Refused credentials are
// retried more slowly: cloud-init may still be installing the key.
const (
	retryUnreachable = 250 * time.Millisecond
	retryAuth        = time.Second
)

// ConnectError is the final error of waiting for SSH.
type ConnectError struct {
	Kind     error // ErrAuthFailed, ErrUnreachable or ErrTimeout
	Addr     string
	Waited   time.Duration
	Attempts int   // attempts that reached an SSH server and failed
	Last     error // the last attempt's failure
}

func (e *ConnectError) Error() string {
	switch e.Kind {
	case ErrAuthFailed:
		return fmt.Sprintf("%v after %d attempt(s): %v; check ssh_username and ssh_password, ssh_private_key_file or the temporary key pair", e.Kind, e.Attempts, e.Last)
	case ErrUnreachable:
		return fmt.Sprintf("%v: nothing answered SSH at %s within %s (last error: %v); check ssh_host and ssh_port, that the machine booted and runs an SSH server, or raise ssh_timeout", e.Kind, e.Addr, e.Waited.Round(time.Millisecond), e.Last)
	default:
		return fmt.Sprintf("%v: %s accepted connections but no SSH session was set up within %s (last error: %v); raise ssh_timeout if the machine is slow, or check that ssh_port is its SSH server", e.Kind, e.Addr, e.Waited.Round(time.Millisecond), e.Last)
	}
}

func (e *ConnectError) Unwrap() []error { return []error{e.Kind, e.Last} }

// Connect waits until host:port accepts an SSH session with cfg's
// credentials (retrying every fraction of a second until cfg.SSHTimeout),
// honouring pause_before_connecting, bastion and proxy settings. cfg must
// have been Prepared; a builder that made a temporary key pair sets
// cfg.SSHPrivateKey first. ui gets progress messages (it may be nil).
//
// The error wraps ErrAuthFailed, ErrUnreachable or ErrTimeout, or the
// context's error when ctx ended first.
func Connect(ctx context.Context, cfg *communicator.Config, host string, port int, ui plugin.UI) (*Comm, error) {
	if cfg.Type != "" && cfg.Type != communicator.TypeSSH {
		return nil, fmt.Errorf("connecting over ssh: the communicator is %q", cfg.Type)
	}
	d, err := newDialer(cfg, host, port)
	if err != nil {
		return nil, fmt.Errorf("connecting over ssh: %w", err)
	}
	c := &Comm{cfg: cfg, dialer: d, ui: ui}
	say(ui, "Using SSH communicator to connect: "+host)
	say(ui, "Waiting for SSH to become available...")
	cn, err := c.waitForSSH(ctx)
	if err != nil {
		d.release()
		return nil, err
	}
	if cfg.PauseBeforeConnecting > 0 {
		cn.close()
		say(ui, fmt.Sprintf("Pausing %s before connecting...", cfg.PauseBeforeConnecting))
		if err := wait.Sleep(ctx, cfg.PauseBeforeConnecting); err != nil {
			d.release()
			return nil, fmt.Errorf("pausing before connecting: %w", err)
		}
		if cn, err = c.waitForSSH(ctx); err != nil {
			d.release()
			return nil, err
		}
	}
	if err := c.attach(cn); err != nil {
		cn.close()
		d.release()
		return nil, err
	}
	say(ui, "Connected to SSH!")
	return c, nil
}

// waitForSSH retries connection attempts until one succeeds, ctx ends,
// ssh_timeout passes, or ssh_handshake_attempts attempts reached a server
// and failed.
func (c *Comm) waitForSSH(ctx context.Context) (*conn, error) {
	start := time.Now()
	timeout := c.cfg.SSHTimeout
	if timeout <= 0 {
		timeout = communicator.DefaultSSHTimeout
	}
	waitCtx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("ssh_timeout %s reached", timeout))
	defer cancel()
	var (
		last     *failure
		authFail *failure // kept: a later refused connection must not hide it
		attempts int
	)
	final := func(kind error) error {
		if kind == nil {
			kind = ErrTimeout
		}
		if authFail != nil {
			kind, last = ErrAuthFailed, authFail
		}
		return &ConnectError{Kind: kind, Addr: c.dialer.addr, Waited: time.Since(start), Attempts: attempts, Last: last}
	}
	for {
		cn, f := c.dialer.dial(waitCtx)
		if f == nil {
			return cn, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("waiting for ssh at %s: %w", c.dialer.addr, context.Cause(ctx))
		}
		if f.kind == nil {
			return nil, fmt.Errorf("connecting over ssh: %w", f)
		}
		last = f
		if f.kind == ErrAuthFailed {
			authFail = f
		}
		delay := retryUnreachable
		if f.spoke {
			attempts++
			delay = retryAuth
			if max := c.cfg.SSHHandshakeAttempts; max > 0 && attempts >= max {
				return nil, final(f.kind)
			}
		}
		if waitCtx.Err() != nil {
			return nil, final(f.kind)
		}
		if wait.Sleep(waitCtx, delay) != nil {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("waiting for ssh at %s: %w", c.dialer.addr, context.Cause(ctx))
			}
			return nil, final(f.kind)
		}
	}
}

func say(ui plugin.UI, msg string) {
	if ui != nil {
		ui.Say(msg)
	}
}
