package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/net/proxy"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// attemptTimeout bounds one connection attempt (TCP connect, SSH handshake,
// authentication), so that a server that accepts and then stalls is retried.
const attemptTimeout = 20 * time.Second

var errAttemptTimeout = fmt.Errorf("no answer within %s (one attempt)", attemptTimeout)

// silenceTimeout bounds the wait for the first byte. An SSH server speaks
// first, at once; a connection that stays silent is a port forward with
// nothing behind it yet (QEMU's user network accepts before the guest's
// sshd listens, then holds the connection), so it is dropped and retried
// instead of waiting out attemptTimeout.
const silenceTimeout = 2 * time.Second

// dialer makes SSH connections to one machine, possibly through a bastion
// host or a SOCKS5 proxy. It is built once per Comm and reused on
// reconnects.
type dialer struct {
	addr        string // the machine, host:port
	machine     *gossh.ClientConfig
	bastionAddr string
	bastion     *gossh.ClientConfig // nil: no bastion
	proxy       proxy.ContextDialer // nil: dial directly
	rwTimeout   time.Duration
	hostKeys    *hostKeys
	release     func() // closes agent connections
}

func newDialer(cfg *communicator.Config, host string, port int) (*dialer, error) {
	d := &dialer{addr: net.JoinHostPort(host, strconv.Itoa(port)), rwTimeout: cfg.SSHReadWriteTimeout}
	var err error
	if d.hostKeys, err = newHostKeys(cfg.SSHKnownHostsFile); err != nil {
		return nil, err
	}
	machineCreds := credentials{
		user:           cfg.SSHUsername,
		password:       cfg.SSHPassword,
		privateKeyFile: cfg.SSHPrivateKeyFile,
		certFile:       cfg.SSHCertificateFile,
		privateKeyPEM:  cfg.SSHPrivateKey,
		agentAuth:      cfg.SSHAgentAuth,
	}
	auth, releaseMachine, err := machineCreds.authMethods()
	if err != nil {
		return nil, err
	}
	d.release = releaseMachine
	d.machine = &gossh.ClientConfig{
		User:            cfg.SSHUsername,
		Auth:            auth,
		HostKeyCallback: d.hostKeys.callback,
		Timeout:         attemptTimeout,
	}
	d.machine.Ciphers = cfg.SSHCiphers
	d.machine.KeyExchanges = cfg.SSHKEXAlgorithms

	if cfg.SSHBastionHost != "" {
		bastionCreds := credentials{
			user:           cfg.SSHBastionUsername,
			password:       cfg.SSHBastionPassword,
			privateKeyFile: cfg.SSHBastionPrivateKeyFile,
			certFile:       cfg.SSHBastionCertificateFile,
			agentAuth:      cfg.SSHBastionAgentAuth,
		}
		bauth, releaseBastion, err := bastionCreds.authMethods()
		if err != nil {
			d.release()
			return nil, fmt.Errorf("bastion host: %w", err)
		}
		d.release = func() { releaseMachine(); releaseBastion() }
		d.bastionAddr = net.JoinHostPort(cfg.SSHBastionHost, strconv.Itoa(cfg.SSHBastionPort))
		// The bastion is a known, long-lived host; its key is accepted
		// as the machine's is (pinning covers the machine only).
		d.bastion = &gossh.ClientConfig{
			User:            cfg.SSHBastionUsername,
			Auth:            bauth,
			HostKeyCallback: gossh.InsecureIgnoreHostKey(),
			Timeout:         attemptTimeout,
		}
	}
	if cfg.SSHProxyHost != "" {
		var pauth *proxy.Auth
		if cfg.SSHProxyUsername != "" || cfg.SSHProxyPassword != "" {
			pauth = &proxy.Auth{User: cfg.SSHProxyUsername, Password: cfg.SSHProxyPassword}
		}
		p, err := proxy.SOCKS5("tcp", net.JoinHostPort(cfg.SSHProxyHost, strconv.Itoa(cfg.SSHProxyPort)), pauth, &net.Dialer{})
		if err != nil {
			d.release()
			return nil, fmt.Errorf("setting up the SOCKS5 proxy %s:%d: %w", cfg.SSHProxyHost, cfg.SSHProxyPort, err)
		}
		d.proxy = p.(proxy.ContextDialer)
	}
	return d, nil
}

// conn is one live SSH connection to the machine.
type conn struct {
	client  *gossh.Client
	bastion *gossh.Client // nil without a bastion
	dead    chan struct{} // closed once the connection is gone
	stop    []func()      // keep-alives, tunnels
	once    sync.Once
}

// close ends the connection and everything that runs over it.
func (c *conn) close() {
	c.once.Do(func() {
		for _, f := range c.stop {
			f()
		}
		c.client.Close()
		if c.bastion != nil {
			c.bastion.Close()
		}
	})
}

// isDead reports whether the connection has gone.
func (c *conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// failure is why one connection attempt failed.
type failure struct {
	kind error // ErrAuthFailed, ErrUnreachable, ErrTimeout, or nil (fatal)
	hop  string
	err  error
	// spoke is true when an SSH server answered (handshake attempts count
	// these, as Packer does, but not plain refused connections).
	spoke bool
}

func (f *failure) Error() string {
	if f.hop != "" {
		return f.hop + ": " + f.err.Error()
	}
	return f.err.Error()
}

func (f *failure) Unwrap() error { return f.err }

// dial makes one attempt at a connection, bounded by attemptTimeout.
func (d *dialer) dial(ctx context.Context) (*conn, *failure) {
	ctx, cancel := context.WithTimeoutCause(ctx, attemptTimeout, errAttemptTimeout)
	defer cancel()
	c := &conn{dead: make(chan struct{})}
	var target net.Conn
	if d.bastion != nil {
		bc, f := d.handshake(ctx, "bastion host "+d.bastionAddr, d.bastionAddr, d.bastion, nil)
		if f != nil {
			return nil, f
		}
		c.bastion = bc
		t, err := bc.DialContext(ctx, "tcp", d.addr)
		if err != nil {
			bc.Close()
			// The bastion could not reach the machine: as unreachable as
			// a refused connection, and retried the same way.
			return nil, &failure{kind: ErrUnreachable, err: fmt.Errorf("connecting to %s through the bastion host %s: %w", d.addr, d.bastionAddr, err)}
		}
		target = t
	}
	client, f := d.handshake(ctx, "", d.addr, d.machine, target)
	if f != nil {
		if c.bastion != nil {
			c.bastion.Close()
		}
		return nil, f
	}
	c.client = client
	go func() {
		client.Wait()
		close(c.dead)
		if c.bastion != nil {
			c.bastion.Close()
		}
	}()
	return c, nil
}

// handshake connects to addr (or uses conn when it is not nil) and sets up
// an authenticated SSH client.
func (d *dialer) handshake(ctx context.Context, hop, addr string, config *gossh.ClientConfig, nc net.Conn) (*gossh.Client, *failure) {
	if nc == nil {
		var err error
		if d.proxy != nil {
			nc, err = d.proxy.DialContext(ctx, "tcp", addr)
		} else {
			var nd net.Dialer
			nc, err = nd.DialContext(ctx, "tcp", addr)
		}
		if err != nil {
			return nil, &failure{kind: classifyDial(ctx, err), hop: hop, err: fmt.Errorf("connecting to %s: %w", addr, err)}
		}
	}
	counted := &countingConn{Conn: nc}
	var wrapped net.Conn = counted
	if d.rwTimeout > 0 {
		wrapped = newIdleConn(counted, d.rwTimeout)
	}
	// NewClientConn has no context: closing the connection interrupts it.
	stop := context.AfterFunc(ctx, func() { wrapped.Close() })
	var silenced atomic.Bool
	silent := time.AfterFunc(silenceTimeout, func() {
		if counted.read.Load() == 0 {
			silenced.Store(true)
			wrapped.Close()
		}
	})
	sc, chans, reqs, err := gossh.NewClientConn(wrapped, addr, config)
	silent.Stop()
	stopped := stop()
	if err != nil {
		wrapped.Close()
		if silenced.Load() && stopped {
			// Retried at once and not counted as a handshake attempt; a
			// server that stays silent until ssh_timeout is a timeout.
			return nil, &failure{kind: ErrTimeout, hop: hop,
				err: fmt.Errorf("%s accepted the connection but sent nothing within %s (no SSH server behind it yet?)", addr, silenceTimeout)}
		}
		return nil, d.classifyHandshake(ctx, hop, addr, config.User, counted.read.Load() > 0, stopped, err)
	}
	if !stopped {
		// The context ended right as the handshake finished.
		sc.Close()
		return nil, &failure{kind: ErrTimeout, hop: hop, err: fmt.Errorf("ssh handshake with %s: %w", addr, context.Cause(ctx))}
	}
	return gossh.NewClient(sc, chans, reqs), nil
}

func classifyDial(ctx context.Context, err error) error {
	var ne net.Error
	if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return ErrTimeout
	}
	return ErrUnreachable
}

func (d *dialer) classifyHandshake(ctx context.Context, hop, addr, user string, spoke, stopped bool, err error) *failure {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unable to authenticate"):
		return &failure{kind: ErrAuthFailed, hop: hop, spoke: true,
			err: fmt.Errorf("user %q at %s: the server refused every credential offered (%v)", user, addr, err)}
	case strings.Contains(msg, "host key"), isAlgorithmError(err):
		// Retrying cannot help: a rejected host key or no common algorithm.
		return &failure{kind: nil, hop: hop, spoke: true, err: fmt.Errorf("ssh handshake with %s: %w", addr, err)}
	case !stopped || ctx.Err() != nil:
		return &failure{kind: ErrTimeout, hop: hop, spoke: spoke, err: fmt.Errorf("ssh handshake with %s did not finish: %w", addr, context.Cause(ctx))}
	case !spoke:
		// Accepted, then closed without a word: a port forward with no
		// server behind it yet (qemu user networking while booting).
		return &failure{kind: ErrUnreachable, hop: hop, err: fmt.Errorf("%s accepted the connection but closed it before any SSH server answered (%v)", addr, err)}
	default:
		return &failure{kind: ErrTimeout, hop: hop, spoke: true, err: fmt.Errorf("ssh handshake with %s: %w", addr, err)}
	}
}

func isAlgorithmError(err error) bool {
	var ae *gossh.AlgorithmNegotiationError
	return errors.As(err, &ae) || strings.Contains(err.Error(), "no common algorithm")
}

// countingConn counts the bytes received, to tell a port that accepts and
// closes from an SSH server that answered.
type countingConn struct {
	net.Conn
	read atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}
