package ssh_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
	sshcomm "github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

// keyConfig returns a prepared config that logs in to s with its key.
func keyConfig(t testing.TB, s *sshd.Server, edit ...func(*communicator.Config)) *communicator.Config {
	t.Helper()
	cfg := &communicator.Config{
		SSHHost:           s.Host,
		SSHPort:           s.Port,
		SSHUsername:       sshd.User,
		SSHPrivateKeyFile: s.KeyFile,
		SSHTimeout:        20 * time.Second,
	}
	for _, e := range edit {
		e(cfg)
	}
	if _, err := cfg.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return cfg
}

func connect(t testing.TB, cfg *communicator.Config) *sshcomm.Comm {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := sshcomm.Connect(ctx, cfg, cfg.SSHHost, cfg.SSHPort, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs command and returns its status and stdout, failing the test
// when it cannot be run.
func run(t testing.TB, c communicator.Communicator, command string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	status, err := c.Run(context.Background(), &communicator.Cmd{Command: command, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("Run(%q): %v", command, err)
	}
	if status != 0 && errb.Len() > 0 {
		t.Logf("Run(%q) stderr: %s", command, errb.String())
	}
	return status, out.String()
}

// mustRun runs command and fails the test unless it exits 0.
func mustRun(t testing.TB, c communicator.Communicator, command string) string {
	t.Helper()
	status, out := run(t, c, command)
	if status != 0 {
		t.Fatalf("Run(%q): exit status %d", command, status)
	}
	return out
}

// remoteTempDir makes a folder on the machine for the test.
func remoteTempDir(t testing.TB, c communicator.Communicator) string {
	t.Helper()
	dir := strings.TrimSpace(mustRun(t, c, "mktemp -d /tmp/imgbuild-ssh-test-XXXXXX"))
	t.Cleanup(func() {
		c.Run(context.Background(), &communicator.Cmd{Command: "rm -rf " + dir})
	})
	return dir
}

// recordingUI is a plugin.UI that keeps every line.
type recordingUI struct {
	mu    sync.Mutex
	lines []string
}

func (u *recordingUI) add(s string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lines = append(u.lines, s)
}

func (u *recordingUI) Say(msg string)     { u.add(msg) }
func (u *recordingUI) Message(msg string) { u.add(msg) }
func (u *recordingUI) Error(msg string)   { u.add(msg) }
func (u *recordingUI) Stdout() plugin.WriteCloser {
	return nopCloser{io.Discard}
}
func (u *recordingUI) Stderr() plugin.WriteCloser {
	return nopCloser{io.Discard}
}
func (u *recordingUI) TrackProgress(_ string, _ int64, r plugin.ReadCloser) plugin.ReadCloser {
	return r
}

func (u *recordingUI) text() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return strings.Join(u.lines, "\n")
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
