package ssh_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

func TestRunReturnsTheCommandsExitStatus(t *testing.T) {
	s := sshd.Start(t)
	c := connect(t, keyConfig(t, s))
	for _, tc := range []struct {
		name    string
		command string
		want    int
	}{
		{"success", "true", 0},
		{"failure", "exit 3", 3},
		{"highest status", "exit 255", 255},
		{"killed by a signal", "kill -9 $$", 128 + 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _ := run(t, c, tc.command)
			if status != tc.want {
				t.Errorf("exit status %d, want %d", status, tc.want)
			}
		})
	}
}

// firstWrite records whether output arrived while the command still ran.
type firstWrite struct {
	buf      bytes.Buffer
	finished *atomic.Bool
	early    atomic.Bool
}

func (w *firstWrite) Write(p []byte) (int, error) {
	if w.buf.Len() == 0 && !w.finished.Load() {
		w.early.Store(true)
	}
	return w.buf.Write(p)
}

func TestRunStreamsStdoutAndStderrSeparatelyWhileTheCommandRuns(t *testing.T) {
	s := sshd.Start(t)
	c := connect(t, keyConfig(t, s))
	var finished atomic.Bool
	stdout := &firstWrite{finished: &finished}
	var stderr bytes.Buffer
	status, err := c.Run(context.Background(), &communicator.Cmd{
		Command: "echo out1; echo err1 >&2; sleep 1; echo out2",
		Stdout:  stdout,
		Stderr:  &stderr,
	})
	finished.Store(true)
	if err != nil || status != 0 {
		t.Fatalf("Run: status %d, %v", status, err)
	}
	if got := stdout.buf.String(); got != "out1\nout2\n" {
		t.Errorf("stdout %q, want %q", got, "out1\nout2\n")
	}
	if got := stderr.String(); got != "err1\n" {
		t.Errorf("stderr %q, want %q", got, "err1\n")
	}
	if !stdout.early.Load() {
		t.Error("stdout arrived only after the command ended; want it streamed")
	}
}

func TestRunPassesStdin(t *testing.T) {
	s := sshd.Start(t)
	c := connect(t, keyConfig(t, s))
	var out bytes.Buffer
	status, err := c.Run(context.Background(), &communicator.Cmd{Command: "tr a-z A-Z", Stdin: strings.NewReader("hello\n"), Stdout: &out})
	if err != nil || status != 0 {
		t.Fatalf("Run: status %d, %v", status, err)
	}
	if out.String() != "HELLO\n" {
		t.Errorf("stdout %q, want %q", out.String(), "HELLO\n")
	}
}

func TestPtyIsAllocatedOnlyWithSSHPty(t *testing.T) {
	s := sshd.Start(t)
	for _, pty := range []bool{false, true} {
		c := connect(t, keyConfig(t, s, func(c *communicator.Config) { c.SSHPty = pty }))
		status, out := run(t, c, "tty")
		hasTTY := status == 0 && strings.HasPrefix(out, "/dev/pts/")
		if hasTTY != pty {
			t.Errorf("ssh_pty = %v: tty said %q (status %d)", pty, strings.TrimSpace(out), status)
		}
	}
}

func TestCommandSeesItsEnvironmentAndTheLoginUsers(t *testing.T) {
	s := sshd.Start(t)
	c := connect(t, keyConfig(t, s))
	out := mustRun(t, c, `FOO='a b' BAR=x sh -c 'printf "%s|%s|%s|%s" "$FOO" "$BAR" "$USER" "$HOME"'`)
	want := "a b|x|" + sshd.User + "|/home/" + sshd.User
	if out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestCancellingRunStopsTheRemoteCommand(t *testing.T) {
	s := sshd.Start(t)
	c := connect(t, keyConfig(t, s))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, &communicator.Cmd{Command: "sleep 317"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run error %v, want the context's", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := run(t, c, "pgrep -f 'sleep 31[7]'")
		if status == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the remote sleep still runs after Run was cancelled")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
