package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
	sshcomm "github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

// silentListener accepts connections and never says a word.
func silentListener(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(done)
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

func TestWaitingForSSHEndsWithThreeDistinctErrors(t *testing.T) {
	s := sshd.Start(t)
	kinds := []error{sshcomm.ErrAuthFailed, sshcomm.ErrUnreachable, sshcomm.ErrTimeout}
	for _, tc := range []struct {
		name string
		port int
		edit func(*communicator.Config)
		want error
		says string
	}{
		{"a wrong password is an authentication failure", s.Port, func(c *communicator.Config) {
			c.SSHPrivateKeyFile = ""
			c.SSHPassword = "not-the-password"
			c.SSHHandshakeAttempts = 2
		}, sshcomm.ErrAuthFailed, "ssh_password"},
		{"a closed port is unreachable", sshd.FreePort(t), nil, sshcomm.ErrUnreachable, "connection refused"},
		{"a server that never answers is a timeout", silentListener(t), nil, sshcomm.ErrTimeout, "ssh_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := keyConfig(t, s, func(c *communicator.Config) {
				c.SSHPort = tc.port
				c.SSHTimeout = 2 * time.Second
				if tc.edit != nil {
					tc.edit(c)
				}
			})
			start := time.Now()
			_, err := sshcomm.Connect(context.Background(), cfg, cfg.SSHHost, cfg.SSHPort, nil)
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			t.Logf("error: %v", err)
			for _, k := range kinds {
				if errors.Is(err, k) != (k == tc.want) {
					t.Errorf("errors.Is(err, %v) = %v; err: %v", k, !(k == tc.want), err)
				}
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not mention %q", err, tc.says)
			}
			if time.Since(start) > 15*time.Second {
				t.Errorf("took %s, ssh_timeout is 2s", time.Since(start))
			}
		})
	}
}

// stallingForwarder stands in for QEMU's user-mode port forward while the
// guest boots: it holds its first connection open without a word, and
// forwards every later one to the real server at target.
func stallingForwarder(t *testing.T, target string) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for n := 0; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if n == 0 {
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
				continue
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(s, c)
				io.Copy(c, s)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

func TestAConnectionHeldSilentIsDroppedAndRetried(t *testing.T) {
	s := sshd.Start(t)
	// One attempt may last 20 s; ssh_timeout is shorter, so only dropping
	// the silent connection early lets the second one get through.
	c := connect(t, keyConfig(t, s, func(c *communicator.Config) {
		c.SSHPort = stallingForwarder(t, s.Addr())
		c.SSHTimeout = 10 * time.Second
	}))
	mustRun(t, c, "true")
}

func TestPasswordLogin(t *testing.T) {
	s := sshd.Start(t)
	c := connect(t, keyConfig(t, s, func(c *communicator.Config) {
		c.SSHPrivateKeyFile = ""
		c.SSHPassword = sshd.Password
	}))
	if got := mustRun(t, c, "id -un"); got != sshd.User+"\n" {
		t.Errorf("logged in as %q", got)
	}
}

func TestConnectWaitsForAServerThatStartsLater(t *testing.T) {
	s := sshd.Start(t)
	s.Stop()
	go func() {
		time.Sleep(time.Second)
		s.Restart(0)
	}()
	c := connect(t, keyConfig(t, s))
	mustRun(t, c, "true")
}

func TestTemporaryKeyPairsLogIn(t *testing.T) {
	s := sshd.Start(t)
	for _, tc := range []struct {
		typ  string
		bits int
	}{{"ed25519", 0}, {"rsa", 2048}, {"ecdsa", 0}, {"ecdsa", 256}} {
		t.Run(fmt.Sprintf("%s-%d", tc.typ, tc.bits), func(t *testing.T) {
			kp, err := sshcomm.GenerateKeyPair(tc.typ, tc.bits, "imgbuild_test")
			if err != nil {
				t.Fatal(err)
			}
			curve := tc.bits
			if curve == 0 {
				curve = 521 // Packer's default
			}
			if want := map[string]string{"ed25519": "ssh-ed25519 ", "rsa": "ssh-rsa ", "ecdsa": fmt.Sprintf("ecdsa-sha2-nistp%d ", curve)}[tc.typ]; !strings.HasPrefix(kp.AuthorizedKey, want) {
				t.Errorf("authorized key line %q, want it to start with %q", kp.AuthorizedKey, want)
			}
			if !strings.HasSuffix(kp.AuthorizedKey, " imgbuild_test") || strings.Contains(kp.AuthorizedKey, "\n") {
				t.Errorf("authorized key line %q", kp.AuthorizedKey)
			}
			body := strings.Split(string(kp.PrivateKeyPEM), "\n")[1]
			if masked := secret.Mask("key: " + body); strings.Contains(masked, body) {
				t.Errorf("the private key is not registered as a secret: %q", masked)
			}
			c := connect(t, keyConfig(t, s, func(c *communicator.Config) {
				c.SSHPrivateKeyFile = ""
				c.SSHPrivateKey = kp.PrivateKeyPEM
			}))
			mustRun(t, c, "true")
		})
	}
}

func TestHostKeyPinning(t *testing.T) {
	s := sshd.Start(t)
	t.Run("the listed key is accepted", func(t *testing.T) {
		c := connect(t, keyConfig(t, s, func(c *communicator.Config) { c.SSHKnownHostsFile = s.KnownHostsFile }))
		if c.HostKey() != s.HostKey {
			t.Errorf("recorded host key %q, want %q", c.HostKey(), s.HostKey)
		}
	})
	t.Run("another key is refused at once", func(t *testing.T) {
		other := sshd.Start(t)
		wrong := filepath.Join(t.TempDir(), "known_hosts")
		line := "[127.0.0.1]:" + strconv.Itoa(s.Port) + " " + other.HostKey
		if err := os.WriteFile(wrong, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := keyConfig(t, s, func(c *communicator.Config) { c.SSHKnownHostsFile = wrong })
		start := time.Now()
		_, err := sshcomm.Connect(context.Background(), cfg, cfg.SSHHost, cfg.SSHPort, nil)
		if err == nil || !strings.Contains(err.Error(), "ssh_known_hosts_file") {
			t.Fatalf("error %v, want one naming ssh_known_hosts_file", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("a refused host key was retried for %s", time.Since(start))
		}
	})
}

func TestBastionHostCarriesTheConnection(t *testing.T) {
	machine := sshd.Start(t)
	bastion := sshd.Start(t)
	cfg := keyConfig(t, machine, func(c *communicator.Config) {
		c.SSHBastionHost = bastion.Host
		c.SSHBastionPort = bastion.Port
		c.SSHBastionUsername = sshd.User
		c.SSHBastionPassword = sshd.Password
		c.SSHTimeout = 2 * time.Second
	})
	c := connect(t, cfg)
	mustRun(t, c, "true")
	c.Close()

	// Without the bastion the machine, though up, cannot be reached.
	bastion.Stop()
	_, err := sshcomm.Connect(context.Background(), cfg, cfg.SSHHost, cfg.SSHPort, nil)
	if !errors.Is(err, sshcomm.ErrUnreachable) {
		t.Fatalf("with the bastion down: %v, want ErrUnreachable", err)
	}
}

func TestSOCKS5ProxyCarriesTheConnection(t *testing.T) {
	s := sshd.Start(t)
	sshPath := testenv.NeedCommand(t, "ssh")
	proxyPort := sshd.FreePort(t)
	// OpenSSH's dynamic forwarding is a SOCKS5 server.
	args := append(s.ClientArgs(), "-N", "-D", "127.0.0.1:"+strconv.Itoa(proxyPort), "-p", strconv.Itoa(s.Port), sshd.User+"@"+s.Host)
	proxy := exec.Command(sshPath, args...)
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	stopProxy := func() { proxy.Process.Kill(); proxy.Wait() }
	t.Cleanup(stopProxy)
	waitForPort(t, proxyPort)

	cfg := keyConfig(t, s, func(c *communicator.Config) {
		c.SSHProxyHost = "127.0.0.1"
		c.SSHProxyPort = proxyPort
		c.SSHTimeout = 2 * time.Second
	})
	c := connect(t, cfg)
	mustRun(t, c, "true")
	c.Close()

	stopProxy()
	if _, err := sshcomm.Connect(context.Background(), cfg, cfg.SSHHost, cfg.SSHPort, nil); err == nil {
		t.Fatal("Connect succeeded with the proxy stopped: the proxy was not used")
	}
}

func waitForPort(t *testing.T, port int) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d", port)
}

func TestPauseBeforeConnecting(t *testing.T) {
	s := sshd.Start(t)
	cfg := keyConfig(t, s, func(c *communicator.Config) { c.PauseBeforeConnecting = 300 * time.Millisecond })
	ui := &recordingUI{}
	c, err := sshcomm.Connect(context.Background(), cfg, cfg.SSHHost, cfg.SSHPort, ui)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.Contains(ui.text(), "Pausing 300ms before connecting") {
		t.Errorf("UI said %q", ui.text())
	}
	mustRun(t, c, "true")
}

func TestReconnectAfterTheServerRestartsMidCommand(t *testing.T) {
	s := sshd.Start(t)
	c := connect(t, keyConfig(t, s, func(c *communicator.Config) { c.SSHKeepAliveInterval = time.Second }))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), &communicator.Cmd{Command: "echo started; sleep 60"})
		errc <- err
	}()
	time.Sleep(500 * time.Millisecond)
	if err := s.Restart(time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, communicator.ErrDisconnected) {
			t.Fatalf("Run error %v, want ErrDisconnected", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the server went away")
	}
	if err := c.Reconnect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := mustRun(t, c, "echo back"); got != "back\n" {
		t.Errorf("after reconnecting: %q", got)
	}

	// Without an explicit Reconnect, the next command reconnects itself.
	if err := s.Restart(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := mustRun(t, c, "echo again"); got != "again\n" {
		t.Errorf("after the second restart: %q", got)
	}
}

func TestLocalAndRemoteTunnels(t *testing.T) {
	s := sshd.Start(t)
	// A local service that greets whoever connects.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte("hello through the tunnel\n"))
			conn.Close()
		}
	}()
	service := l.Addr().(*net.TCPAddr).Port
	localPort, remotePort := sshd.FreePort(t), sshd.FreePort(t)
	c := connect(t, keyConfig(t, s, func(c *communicator.Config) {
		c.SSHLocalTunnels = []string{strconv.Itoa(localPort) + ":127.0.0.1:" + strconv.Itoa(service)}
		c.SSHRemoteTunnels = []string{strconv.Itoa(remotePort) + ":127.0.0.1:" + strconv.Itoa(service)}
	}))
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(localPort))
	if err != nil {
		t.Fatalf("local tunnel: %v", err)
	}
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	conn.Close()
	if got := string(buf[:n]); got != "hello through the tunnel\n" {
		t.Errorf("local tunnel read %q", got)
	}
	got := mustRun(t, c, "bash -c 'exec 3<>/dev/tcp/127.0.0.1/"+strconv.Itoa(remotePort)+"; cat <&3'")
	if got != "hello through the tunnel\n" {
		t.Errorf("remote tunnel read %q", got)
	}
}

func TestClearAuthorizedKeysRemovesOnlyTheTemporaryKey(t *testing.T) {
	s := sshd.Start(t)
	c := connect(t, keyConfig(t, s))
	kp, err := sshcomm.GenerateKeyPair("ed25519", 0, "imgbuild_temp")
	if err != nil {
		t.Fatal(err)
	}
	keep := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeepThisKeyKeepThisKeyKeepThisKeyKeepThis other@host"
	mustRun(t, c, "mkdir -p ~/.ssh && cp ~/.ssh/authorized_keys ~/.ssh/authorized_keys.imgbuild-test-saved 2>/dev/null; true")
	t.Cleanup(func() {
		run(t, c, "if [ -f ~/.ssh/authorized_keys.imgbuild-test-saved ]; then mv ~/.ssh/authorized_keys.imgbuild-test-saved ~/.ssh/authorized_keys; else rm -f ~/.ssh/authorized_keys; fi")
	})
	mustRun(t, c, "printf '%s\\n%s\\n' '"+keep+"' '"+kp.AuthorizedKey+"' > ~/.ssh/authorized_keys")
	if err := sshcomm.ClearAuthorizedKeys(context.Background(), c, kp.AuthorizedKey); err != nil {
		t.Fatal(err)
	}
	if got := mustRun(t, c, "cat ~/.ssh/authorized_keys"); got != keep+"\n" {
		t.Errorf("authorized_keys is %q, want only the other key", got)
	}
}

// A machine that froze (or rebooted behind a NAT that keeps the TCP
// connection, as QEMU's user network does) sends nothing, not even a FIN:
// the unanswered keep-alives end the command with ErrDisconnected.
func TestRunEndsWhenTheMachineStopsAnswering(t *testing.T) {
	defer sshcomm.SetMinKeepAliveGrace(time.Second)()
	s := sshd.Start(t)
	proxy := startFreezableProxy(t, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	c := connect(t, keyConfig(t, s, func(c *communicator.Config) {
		c.SSHPort = proxy.port
		c.SSHKeepAliveInterval = 200 * time.Millisecond
	}))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), &communicator.Cmd{Command: "sleep 60"})
		errc <- err
	}()
	time.Sleep(500 * time.Millisecond)
	proxy.freeze()
	select {
	case err := <-errc:
		if !errors.Is(err, communicator.ErrDisconnected) {
			t.Fatalf("Run error %v, want ErrDisconnected", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still waits 20s after the machine stopped answering")
	}
}

// freezableProxy forwards TCP connections to a server until freeze, after
// which it holds them open and forwards nothing more.
type freezableProxy struct {
	port   int
	frozen chan struct{}
	once   sync.Once
}

func (p *freezableProxy) freeze() { p.once.Do(func() { close(p.frozen) }) }

func startFreezableProxy(t *testing.T, target string) *freezableProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezableProxy{port: l.Addr().(*net.TCPAddr).Port, frozen: make(chan struct{})}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		p.freeze()
		l.Close()
		conns.Wait()
	})
	// forward copies until the proxy freezes, then drops what arrives.
	forward := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			select {
			case <-p.frozen:
				continue
			default:
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				done := make(chan struct{}, 2)
				go func() { forward(out, in); done <- struct{}{} }()
				go func() { forward(in, out); done <- struct{}{} }()
				<-done
				in.Close()
				out.Close()
				<-done
			}()
		}
	}()
	return p
}
