package ssh

import (
	"net"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// minKeepAliveGrace is the shortest wait for a keep-alive's answer before
// the machine counts as gone (shortened by tests).
var minKeepAliveGrace = 20 * time.Second

// keepAlive sends a keep-alive request every interval and closes the
// client when one goes unanswered for long, so that a machine that
// vanished (a reboot behind a NAT that keeps the TCP connection) is noticed
// and Run returns ErrDisconnected instead of hanging. It returns a stop
// function.
func keepAlive(client *gossh.Client, interval time.Duration) func() {
	if interval <= 0 {
		return func() {}
	}
	// A busy guest under emulation can be slow to answer: allow several
	// intervals, and at least minKeepAliveGrace.
	grace := max(4*interval, minKeepAliveGrace)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			replied := make(chan error, 1)
			go func() {
				_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
				replied <- err
			}()
			select {
			case <-done:
				return
			case err := <-replied:
				if err != nil {
					client.Close()
					return
				}
			case <-time.After(grace):
				client.Close()
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// idleConn closes the connection when nothing was read or written for
// timeout (ssh_read_write_timeout). A watchdog is used rather than socket
// deadlines because connections through a bastion do not support them.
type idleConn struct {
	net.Conn
	timeout time.Duration
	mu      sync.Mutex
	timer   *time.Timer
}

func newIdleConn(c net.Conn, timeout time.Duration) *idleConn {
	ic := &idleConn{Conn: c, timeout: timeout}
	ic.timer = time.AfterFunc(timeout, func() { c.Close() })
	return ic
}

func (c *idleConn) touch() {
	c.mu.Lock()
	c.timer.Reset(c.timeout)
	c.mu.Unlock()
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Close() error {
	c.timer.Stop()
	return c.Conn.Close()
}
