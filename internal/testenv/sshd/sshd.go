// Package sshd starts Debian's OpenSSH server for tests: on a free loopback
// port, with its own configuration, host key and PID file in a temporary
// folder, accepting any public key and the test user's password. Tests of
// the SSH communicator and of builders that connect over SSH share it.
package sshd

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/wait"
)

// The login that tests use. scripts/test-setup.sh (setup_ssh) creates it;
// Start creates it too when it is missing. It exists only for tests: the
// servers that accept it listen on loopback only.
const (
	User     = "imgbuildtest"
	Password = "imgbuild-test-pw-7Qx"
)

// Server is a running sshd.
type Server struct {
	Host string // 127.0.0.1
	Port int
	Dir  string // configuration, keys, PID file and log
	// KeyFile is an unencrypted private key that the server accepts
	// (it accepts any key).
	KeyFile string
	// HostKey is the server's public host key in authorized_keys form.
	HostKey string
	// KnownHostsFile lists HostKey for [127.0.0.1]:Port.
	KnownHostsFile string

	sshdPath string
	config   string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Option changes the server's configuration.
type Option func(*options)

type options struct {
	extra     []string
	noAnyKeys bool
}

// WithConfig adds sshd_config lines.
func WithConfig(lines ...string) Option {
	return func(o *options) { o.extra = append(o.extra, lines...) }
}

// RefusingPlainKeys makes the server refuse the public keys it would
// otherwise all accept, for tests of certificates (add TrustedUserCAKeys
// with WithConfig) and passwords.
func RefusingPlainKeys() Option {
	return func(o *options) { o.noAnyKeys = true }
}

// Start starts an sshd for the test and stops it when the test ends. It
// calls testenv.Unavailable when sshd is missing or the test is not root
// (sshd needs root to log in users and to run AuthorizedKeysCommand).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	sshdPath := testenv.NeedCommand(t, "sshd")
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "sshd tests need root (to log in the test user)")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := EnsureUser(); err != nil {
		t.Fatalf("creating the test user %s: %v", User, err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation
		t.Fatalf("creating /run/sshd: %v", err)
	}
	dir, err := os.MkdirTemp("", "imgbuild-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// sshd refuses a world-writable folder for its files.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Host: "127.0.0.1", Dir: dir, sshdPath: sshdPath}
	hostKeyFile := filepath.Join(dir, "ssh_host_ed25519_key")
	hostPub, err := writeKey(hostKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	s.HostKey = hostPub
	s.KeyFile = filepath.Join(dir, "client_key")
	if _, err := writeKey(s.KeyFile); err != nil {
		t.Fatal(err)
	}
	s.Port = FreePort(t)
	s.KnownHostsFile = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(s.KnownHostsFile, []byte(fmt.Sprintf("[%s]:%d %s", s.Host, s.Port, hostPub)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := []string{
		"Port " + strconv.Itoa(s.Port),
		"ListenAddress " + s.Host,
		"HostKey " + hostKeyFile,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile none",
		"AuthorizedKeysCommand /bin/echo %t %k",
		"AuthorizedKeysCommandUser nobody",
		"PubkeyAuthentication yes",
		"PasswordAuthentication yes",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"PermitRootLogin yes",
		"StrictModes no",
		"PrintMotd no",
		"PrintLastLog no",
		"AllowTcpForwarding yes",
		"MaxStartups 200",
		"MaxSessions 100",
		"MaxAuthTries 10",
		"Subsystem sftp /usr/lib/openssh/sftp-server",
	}
	if o.noAnyKeys {
		kept := cfg[:0]
		for _, l := range cfg {
			if !strings.HasPrefix(l, "AuthorizedKeysCommand") {
				kept = append(kept, l)
			}
		}
		cfg = kept
	}
	cfg = append(cfg, o.extra...)
	s.config = filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(s.config, []byte(strings.Join(cfg, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

func (s *Server) start() error {
	cmd := exec.Command(s.sshdPath, "-D", "-f", s.config, "-E", filepath.Join(s.Dir, "sshd.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting sshd: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { cmd.Wait(); close(s.exited) }()
	// Waiting ends early if sshd exits.
	errExited := errors.New("sshd exited at start")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		select {
		case <-s.exited:
			cancel(errExited)
		case <-ctx.Done():
		}
	}()
	err := wait.ForGreeting(ctx, s.Addr(), "SSH-", 15*time.Second)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errExited):
		return fmt.Errorf("sshd exited at start: %s", s.Log())
	}
	s.Stop()
	return fmt.Errorf("sshd did not answer: %w: %s", err, s.Log())
}

// Log returns sshd's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
	return string(b)
}

// Stop kills sshd and every session it started. It is safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pid := s.cmd.Process.Pid
	// Sessions run in processes of their own (sshd calls setsid): find
	// them by ancestry before the listener goes. Parents die first, so
	// that no session's sshd reports its command's death as an exit
	// status: the connections just drop, as in a crash or reboot.
	procs := descendants(pid)
	s.cmd.Process.Kill()
	for i := len(procs) - 1; i >= 0; i-- {
		syscall.Kill(procs[i], syscall.SIGKILL)
	}
	<-s.exited
	s.cmd = nil
}

// Restart stops sshd with all its sessions (their connections drop, as in
// a reboot), waits pause, and starts it again on the same port with the
// same host key.
func (s *Server) Restart(pause time.Duration) error {
	s.Stop()
	time.Sleep(pause)
	return s.start()
}

// ClientArgs are OpenSSH client options (ssh, scp, sftp) to log in to this
// server with KeyFile; append the destination.
func (s *Server) ClientArgs() []string {
	return []string{
		"-i", s.KeyFile,
		"-o", "UserKnownHostsFile=" + s.KnownHostsFile,
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
	}
}

// descendants lists the processes below pid, children before parents.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			walk(c)
			out = append(out, c)
		}
	}
	walk(pid)
	return out
}

// writeKey writes a new ed25519 private key to file (mode 0600) and returns
// its public key in authorized_keys form.
func writeKey(file string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := gossh.MarshalPrivateKey(priv, "imgbuild-test")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	sp, err := gossh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	return string(gossh.MarshalAuthorizedKey(sp)), nil
}

// FreePort returns a loopback TCP port that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
