package qemu

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/internal/steps"
)

var errorsJoin = errors.Join

// guestHostIP is the host as QEMU's user-mode network shows it to the guest.
const guestHostIP = "10.0.2.2"

// stepHTTP serves http_directory or http_content to the guest on a port in
// http_port_min..max; the guest reaches it at {{ .HTTPIP }}:{{ .HTTPPort }}.
func stepHTTP(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	if c.HTTPDir == "" && len(c.HTTPContent) == 0 {
		return nil, nil
	}
	ln, err := listenInRange(c.HTTPNetworkProtocol, c.HTTPAddress, c.HTTPPortMin, c.HTTPPortMax, nil)
	if err != nil {
		return nil, fmt.Errorf("http server: %w", err)
	}
	var h http.Handler
	if c.HTTPDir != "" {
		h = http.FileServer(http.Dir(c.HTTPDir))
	} else {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := path.Clean("/" + r.URL.Path)
			body, ok := c.HTTPContent[p]
			if !ok {
				body, ok = c.HTTPContent[p[1:]]
			}
			if !ok {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte(body))
		})
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	port := ln.Addr().(*net.TCPAddr).Port
	st.httpIP, st.httpPort = guestHostIP, strconv.Itoa(port)
	if c.NetBridge != "" {
		// A bridged guest reaches the host on its LAN address: the one of
		// http_interface when named, else of the default route's interface.
		if st.httpIP, err = bridgedHostIP(c.HTTPInterface); err != nil {
			srv.Close()
			return nil, fmt.Errorf("http_interface: %w", err)
		}
	}
	st.generated["PackerHTTPIP"] = st.httpIP
	st.generated["PackerHTTPPort"] = st.httpPort
	st.generated["PackerHTTPAddr"] = net.JoinHostPort(st.httpIP, st.httpPort)
	st.ui.Say(fmt.Sprintf("Serving HTTP for the guest on port %d", port))
	return func(ctx context.Context) error {
		return srv.Close()
	}, nil
}

// bridgedHostIP returns the first IPv4 address of the network interface
// named iface, or, when iface is empty, the address of the interface the
// default route leaves from.
func bridgedHostIP(iface string) (string, error) {
	if iface == "" {
		return hostIP(), nil
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return "", fmt.Errorf("no network interface %q on this host: %w", iface, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return "", fmt.Errorf("reading the addresses of %s: %w", iface, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", fmt.Errorf("network interface %s has no IPv4 address", iface)
}

func hostIP() string {
	conn, err := net.Dial("udp", "192.0.2.1:9")
	if err != nil {
		return guestHostIP
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String()
}

// listenInRange listens on a free port in lo..hi (network is tcp, tcp4 or
// tcp6), trying ports in a random order so that parallel builds rarely
// collide.
// skip, when set, names ports not to try.
func listenInRange(network, addr string, lo, hi int, skip map[int]bool) (net.Listener, error) {
	if network == "" {
		network = "tcp"
	}
	n := hi - lo + 1
	start := rand.IntN(n)
	var last error
	for i := 0; i < n; i++ {
		port := lo + (start+i)%n
		if skip[port] {
			continue // handed to another build's QEMU, which may not listen yet
		}
		ln, err := net.Listen(network, net.JoinHostPort(addr, strconv.Itoa(port)))
		if err == nil {
			return ln, nil
		}
		last = err
	}
	return nil, fmt.Errorf("no free port in %d-%d on %s (last error: %v)", lo, hi, addr, last)
}

// freePort finds a port in lo..hi that QEMU can bind next, and reserves
// it within this process until release: two builds of one run probing
// before either QEMU binds must not pick the same port. (Another process
// can still take it; that shows up as QEMU failing to start.)
func freePort(addr string, lo, hi int) (int, error) {
	reservedPorts.mu.Lock()
	defer reservedPorts.mu.Unlock()
	ln, err := listenInRange("tcp", addr, lo, hi, reservedPorts.m)
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	reservedPorts.m[port] = true
	return port, ln.Close()
}

// reservedPorts are the ports handed to this process's QEMUs.
var reservedPorts = &portSet{m: map[int]bool{}}

type portSet struct {
	mu sync.Mutex
	m  map[int]bool
}

func (s *portSet) release(ports ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ports {
		delete(s.m, p)
	}
}

// stepPorts picks the host port forwarded to the guest's SSH port and the
// VNC port.
func stepPorts(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	st.sshHost = c.SSHHost
	if st.sshHost == "" {
		st.sshHost = "127.0.0.1"
	}
	st.sshPort = c.SSHPort
	if c.Type != "none" && !c.SkipNatMapping && c.NetBridge == "" {
		p, err := freePort("127.0.0.1", c.HostPortMin, c.HostPortMax)
		if err != nil {
			return nil, fmt.Errorf("choosing the SSH forward port (host_port_min/max): %w", err)
		}
		st.sshPort = p
	}
	if !c.DisableVNC {
		p, err := freePort(c.VNCBindAddress, c.VNCPortMin, c.VNCPortMax)
		if err != nil {
			return nil, fmt.Errorf("choosing the VNC port (vnc_port_min/max): %w", err)
		}
		st.vncPort = p
	}
	reserved := []int{st.sshPort, st.vncPort}
	return func(context.Context) error { reservedPorts.release(reserved...); return nil }, nil
}
