package ssh_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
	sshcomm "github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

func sshKeygen(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(testenv.NeedCommand(t, "ssh-keygen"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen %v: %v: %s", args, err, out)
	}
}

func TestCertificateFileIsPresented(t *testing.T) {
	dir := t.TempDir()
	ca, key := filepath.Join(dir, "ca"), filepath.Join(dir, "id")
	sshKeygen(t, "-q", "-t", "ed25519", "-N", "", "-f", ca)
	sshKeygen(t, "-q", "-t", "ed25519", "-N", "", "-f", key)
	sshKeygen(t, "-q", "-s", ca, "-I", "imgbuild-test", "-n", sshd.User, key+".pub")
	s := sshd.Start(t, sshd.RefusingPlainKeys(), sshd.WithConfig("TrustedUserCAKeys "+ca+".pub"))

	c := connect(t, keyConfig(t, s, func(c *communicator.Config) {
		c.SSHPrivateKeyFile = key
		c.SSHCertificateFile = key + "-cert.pub"
	}))
	mustRun(t, c, "true")

	// The same key without its certificate is refused: the certificate
	// is what logged in.
	cfg := keyConfig(t, s, func(c *communicator.Config) {
		c.SSHPrivateKeyFile = key
		c.SSHHandshakeAttempts = 1
	})
	if _, err := sshcomm.Connect(context.Background(), cfg, cfg.SSHHost, cfg.SSHPort, nil); !errors.Is(err, sshcomm.ErrAuthFailed) {
		t.Errorf("without the certificate: %v, want ErrAuthFailed", err)
	}
}

func TestAgentAuthLogsInAndForwardsTheAgent(t *testing.T) {
	agentPath := testenv.NeedCommand(t, "ssh-agent")
	addPath := testenv.NeedCommand(t, "ssh-add")
	s := sshd.Start(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agentCmd := exec.Command(agentPath, "-D", "-a", sock)
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agentCmd.Process.Kill(); agentCmd.Wait() })
	// The socket appears a moment before the agent listens on it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		add := exec.Command(addPath, s.KeyFile)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		out, err := add.CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh-add: %v: %s", err, out)
		}
	}
	t.Setenv("SSH_AUTH_SOCK", sock)

	for _, tc := range []struct {
		name    string
		disable bool
	}{{"forwarded by default", false}, {"not forwarded with ssh_disable_agent_forwarding", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := connect(t, keyConfig(t, s, func(c *communicator.Config) {
				c.SSHPrivateKeyFile = ""
				c.SSHAgentAuth = true
				c.SSHDisableAgentForwarding = tc.disable
			}))
			var out, errb bytes.Buffer
			status, err := c.Run(context.Background(), &communicator.Cmd{Command: "ssh-add -l", Stdout: &out, Stderr: &errb})
			if err != nil {
				t.Fatal(err)
			}
			forwarded := status == 0 && strings.Contains(out.String(), "ED25519")
			if forwarded == tc.disable {
				t.Errorf("ssh-add -l on the machine: status %d, %q %q", status, out.String(), errb.String())
			}
		})
	}
}

func TestReadWriteTimeoutDropsASilentConnection(t *testing.T) {
	s := sshd.Start(t)
	c := connect(t, keyConfig(t, s, func(c *communicator.Config) {
		c.SSHKeepAliveInterval = -1 // nothing else keeps the connection busy
		c.SSHReadWriteTimeout = time.Second
	}))
	_, err := c.Run(context.Background(), &communicator.Cmd{Command: "sleep 5"})
	if !errors.Is(err, communicator.ErrDisconnected) {
		t.Errorf("Run error %v, want ErrDisconnected after a second of silence", err)
	}
}

func TestCancellingConnectStopsWaiting(t *testing.T) {
	s := sshd.Start(t)
	cfg := keyConfig(t, s, func(c *communicator.Config) { c.SSHPort = sshd.FreePort(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := sshcomm.Connect(ctx, cfg, cfg.SSHHost, cfg.SSHPort, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Connect error %v, want the context's", err)
	}
	if errors.Is(err, sshcomm.ErrUnreachable) || time.Since(start) > 5*time.Second {
		t.Errorf("Connect waited %s for ssh_timeout instead of the context: %v", time.Since(start), err)
	}
}
