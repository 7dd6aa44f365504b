package ssh

import (
	"bytes"
	"fmt"
	"net"
	"sync"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys checks the machine's host key. Without a known_hosts file the
// first key seen is accepted and recorded (machines being built have fresh
// keys that nobody could have listed); with one, the key must be listed.
type hostKeys struct {
	known gossh.HostKeyCallback // nil: accept and record

	mu   sync.Mutex
	seen gossh.PublicKey
	// changed is set when a reconnect saw a different key than the first
	// connection (a guest that regenerates its keys at boot).
	changed bool
}

func newHostKeys(knownHostsFile string) (*hostKeys, error) {
	h := &hostKeys{}
	if knownHostsFile != "" {
		cb, err := knownhosts.New(knownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("reading ssh_known_hosts_file: %w", err)
		}
		h.known = cb
	}
	return h, nil
}

func (h *hostKeys) callback(hostname string, remote net.Addr, key gossh.PublicKey) error {
	if h.known != nil {
		if err := h.known(hostname, remote, key); err != nil {
			return fmt.Errorf("host key of %s (%s %s) is not accepted by ssh_known_hosts_file: %w",
				hostname, key.Type(), gossh.FingerprintSHA256(key), err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen != nil && !bytes.Equal(h.seen.Marshal(), key.Marshal()) {
		h.changed = true
	}
	h.seen = key
	return nil
}

// Key returns the host key recorded at the last connection.
func (h *hostKeys) Key() gossh.PublicKey {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen
}

// takeChanged reports, once, that the key changed on a reconnect.
func (h *hostKeys) takeChanged() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.changed
	h.changed = false
	return c
}
