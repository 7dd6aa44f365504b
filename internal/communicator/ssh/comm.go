package ssh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

// Comm is a connected SSH communicator. It implements
// communicator.Communicator and communicator.Reconnecter. Close it when the
// build no longer needs the machine.
type Comm struct {
	cfg    *communicator.Config
	dialer *dialer
	ui     plugin.UI

	// reconnecting serialises reconnects, so that two callers that find
	// the connection gone make one new connection, not two.
	reconnecting sync.Mutex

	mu     sync.Mutex
	cur    *conn
	sftp   *sftp.Client // opened on first use, for the current conn
	closed bool
}

var (
	_ communicator.Communicator = (*Comm)(nil)
	_ communicator.Reconnecter  = (*Comm)(nil)
)

// attach makes cn the current connection, with keep-alives and tunnels.
func (c *Comm) attach(cn *conn) error {
	cn.stop = append(cn.stop, keepAlive(cn.client, c.cfg.SSHKeepAliveInterval))
	if sock := c.agentToForward(); sock != "" {
		if err := agent.ForwardToRemote(cn.client, sock); err != nil {
			return fmt.Errorf("forwarding the ssh agent: %w", err)
		}
	}
	if len(c.cfg.SSHLocalTunnels)+len(c.cfg.SSHRemoteTunnels) > 0 {
		stop, err := startTunnels(cn.client, c.cfg.SSHLocalTunnels, c.cfg.SSHRemoteTunnels)
		if err != nil {
			return err
		}
		cn.stop = append(cn.stop, stop)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		cn.close()
		return errors.New("ssh communicator is closed")
	}
	c.dropLocked()
	c.cur = cn
	return nil
}

// agentToForward returns the local agent's socket when commands should see
// it (ssh_agent_auth without ssh_disable_agent_forwarding), or "".
func (c *Comm) agentToForward() string {
	if !c.cfg.SSHAgentAuth || c.cfg.SSHDisableAgentForwarding {
		return ""
	}
	return os.Getenv("SSH_AUTH_SOCK")
}

// dropLocked closes the current connection (c.mu held).
func (c *Comm) dropLocked() {
	if c.sftp != nil {
		c.sftp.Close()
		c.sftp = nil
	}
	if c.cur != nil {
		c.cur.close()
		c.cur = nil
	}
}

// client returns a live client, reconnecting first when the connection was
// lost (as after a reboot), so that the next provisioner just works.
func (c *Comm) client(ctx context.Context) (*gossh.Client, error) {
	if client, err := c.live(); client != nil || err != nil {
		return client, err
	}
	c.reconnecting.Lock()
	defer c.reconnecting.Unlock()
	// Another caller may have reconnected while this one waited.
	if client, err := c.live(); client != nil || err != nil {
		return client, err
	}
	if err := c.reconnectLocked(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return nil, errors.New("ssh communicator is closed")
	}
	return c.cur.client, nil
}

// live returns the current client if its connection is up, nil if not, and
// an error once the communicator is closed.
func (c *Comm) live() (*gossh.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("ssh communicator is closed")
	}
	if c.cur != nil && !c.cur.isDead() {
		return c.cur.client, nil
	}
	return nil, nil
}

// Reconnect drops the current connection and waits for SSH again, up to
// ssh_timeout (used after a provisioner rebooted the machine).
func (c *Comm) Reconnect(ctx context.Context) error {
	c.reconnecting.Lock()
	defer c.reconnecting.Unlock()
	return c.reconnectLocked(ctx)
}

func (c *Comm) reconnectLocked(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("ssh communicator is closed")
	}
	c.dropLocked()
	c.mu.Unlock()
	say(c.ui, "Reconnecting over SSH...")
	cn, err := c.waitForSSH(ctx)
	if err != nil {
		return fmt.Errorf("reconnecting: %w", err)
	}
	if err := c.attach(cn); err != nil {
		cn.close()
		return fmt.Errorf("reconnecting: %w", err)
	}
	if c.dialer.hostKeys.takeChanged() && c.ui != nil {
		c.ui.Message("The machine's SSH host key changed across the reconnect (it was probably regenerated at boot)")
	}
	return nil
}

// HostKey returns the machine's host key in authorized_keys form, as
// recorded at the last connection.
func (c *Comm) HostKey() string {
	k := c.dialer.hostKeys.Key()
	if k == nil {
		return ""
	}
	return string(gossh.MarshalAuthorizedKey(k))
}

// Close ends the connection. It is safe to call more than once.
func (c *Comm) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.dropLocked()
	c.dialer.release()
	return nil
}

// sftpClient returns the sftp client of the current connection, opening it
// on first use.
func (c *Comm) sftpClient(ctx context.Context) (*sftp.Client, error) {
	client, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp != nil && c.cur != nil && c.cur.client == client {
		return c.sftp, nil
	}
	sc, err := newSFTP(client)
	if err != nil {
		return nil, err
	}
	if c.sftp != nil {
		c.sftp.Close()
	}
	c.sftp = sc
	return sc, nil
}
