package ssh

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	gossh "golang.org/x/crypto/ssh"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// startTunnels opens ssh_local_tunnels (listen here, connect from the
// machine) and ssh_remote_tunnels (listen on the machine, connect from
// here). It returns a function that closes them all.
func startTunnels(client *gossh.Client, local, remote []string) (func(), error) {
	var listeners []net.Listener
	stop := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for _, spec := range local {
		t, err := communicator.ParseTunnel(spec)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("ssh_local_tunnels: %w", err)
		}
		l, err := net.Listen("tcp", bindAddr(t))
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("ssh_local_tunnels %q: listening here: %w", spec, err)
		}
		listeners = append(listeners, l)
		target := net.JoinHostPort(t.Host, strconv.Itoa(t.HostPort))
		go serveTunnel(l, func() (net.Conn, error) { return client.Dial("tcp", target) })
	}
	for _, spec := range remote {
		t, err := communicator.ParseTunnel(spec)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("ssh_remote_tunnels: %w", err)
		}
		l, err := client.Listen("tcp", bindAddr(t))
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("ssh_remote_tunnels %q: listening on the machine: %w", spec, err)
		}
		listeners = append(listeners, l)
		target := net.JoinHostPort(t.Host, strconv.Itoa(t.HostPort))
		go serveTunnel(l, func() (net.Conn, error) { return net.Dial("tcp", target) })
	}
	return stop, nil
}

func bindAddr(t communicator.Tunnel) string {
	host := t.BindAddr
	if host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(t.Port))
}

// serveTunnel copies each accepted connection to a fresh one from dial,
// until the listener is closed.
func serveTunnel(l net.Listener, dial func() (net.Conn, error)) {
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := dial()
			if err != nil {
				return
			}
			defer out.Close()
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); closeWrite(out) }()
			go func() { defer wg.Done(); io.Copy(in, out); closeWrite(in) }()
			wg.Wait()
		}()
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
}
