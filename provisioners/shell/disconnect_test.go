package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// droppingComm is the local communicator with a connection that drops:
// the first script run is cut off after it ran (as a reboot does), and
// the first uploads fail (as while a machine boots).
type droppingComm struct {
	communicator.Communicator
	dropRuns, failUploads int
	// dropRemoves cuts off that many rm -f runs before they run, as when
	// a script's "systemctl reboot" returned before the machine went down.
	dropRemoves int
	// vanished makes every run after a dropped one wait for its context,
	// as the SSH communicator's does while the machine does not come back.
	vanished   bool
	dropped    bool
	reconnects int
}

func (d *droppingComm) Run(ctx context.Context, cmd *communicator.Cmd) (int, error) {
	if d.vanished && d.dropped {
		<-ctx.Done()
		return -1, fmt.Errorf("reconnecting: %w", context.Cause(ctx))
	}
	if d.dropRemoves > 0 && strings.HasPrefix(cmd.Command, "rm -f") {
		d.dropRemoves--
		return -1, fmt.Errorf("session ended: %w", communicator.ErrDisconnected)
	}
	st, err := d.Communicator.Run(ctx, cmd)
	if d.dropRuns > 0 && !strings.HasPrefix(cmd.Command, "rm -f") {
		d.dropRuns--
		d.dropped = true
		// As the SSH communicator's error, which names the command.
		return -1, fmt.Errorf("running %q: session ended: %w", cmd.Command, communicator.ErrDisconnected)
	}
	return st, err
}

func (d *droppingComm) Upload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	if d.failUploads > 0 {
		d.failUploads--
		return errors.New("connection refused")
	}
	return d.Communicator.Upload(ctx, dst, r, mode)
}

func (d *droppingComm) Reconnect(context.Context) error { d.reconnects++; return nil }

func TestShellExpectDisconnectAcceptsDroppedConnectionAndReconnects(t *testing.T) {
	tests := []struct {
		name    string
		expect  bool
		wantErr string
	}{
		{"without expect_disconnect it fails with advice", false, "set expect_disconnect = true"},
		{"with expect_disconnect it reconnects and succeeds", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, out, dir := newEnv(t)
			comm := &droppingComm{Communicator: env.Comm, dropRuns: 1}
			env.Comm = comm
			p := prepared(t, Config{Inline: []string{"echo rebooting"}, RemoteFolder: dir, ExpectDisconnect: tt.expect,
				ExecuteCommand: "echo 'hunter2' | sh '{{.Path}}'"})
			err := p.Provision(context.Background(), env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Provision: %v\n%s", err, out)
				}
				if comm.reconnects != 1 {
					t.Errorf("reconnects = %d, want 1", comm.reconnects)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the expanded execute_command with its password: %v", err)
			}
		})
	}
}

func TestShellRetriesStartUntilStartRetryTimeout(t *testing.T) {
	defer func(d time.Duration) { retryPause = d }(retryPause)
	retryPause = 10 * time.Millisecond
	env, out, dir := newEnv(t)
	env.Comm = &droppingComm{Communicator: env.Comm, failUploads: 1}
	p := prepared(t, Config{Inline: []string{"echo started"}, RemoteFolder: dir, StartRetryTimeout: time.Minute})
	if err := p.Provision(context.Background(), env); err != nil {
		t.Fatalf("Provision: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "retrying") || !strings.Contains(out.String(), "test.local: started") {
		t.Errorf("no retry seen:\n%s", out)
	}

	env, _, dir = newEnv(t)
	env.Comm = &droppingComm{Communicator: env.Comm, failUploads: 100}
	p = prepared(t, Config{Inline: []string{"true"}, RemoteFolder: dir, StartRetryTimeout: time.Millisecond})
	if err := p.Provision(context.Background(), env); err == nil || !strings.Contains(err.Error(), "start_retry_timeout") {
		t.Errorf("err = %v, want the retry timeout named", err)
	}
}

// A script that asks for a reboot exits 0 before the machine goes down:
// removing it then meets the dropping connection, and is retried once the
// machine is back, as Packer's cleanup is.
func TestShellRemovesTheScriptAfterTheConnectionDroppedUnderTheRemoval(t *testing.T) {
	env, out, dir := newEnv(t)
	comm := &droppingComm{Communicator: env.Comm, dropRemoves: 1}
	env.Comm = comm
	p := prepared(t, Config{Inline: []string{"echo rebooting"}, RemoteFolder: dir, RemoteFile: "reboot.sh", ExpectDisconnect: true})
	if err := p.Provision(context.Background(), env); err != nil {
		t.Fatalf("Provision: %v\n%s", err, out)
	}
	if comm.reconnects != 1 {
		t.Errorf("reconnects = %d, want 1", comm.reconnects)
	}
	if _, err := os.Stat(filepath.Join(dir, "reboot.sh")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the script is still on the machine (%v)", err)
	}
}

// A machine that froze or never came back after an unexpected reboot: the
// build fails with the dropped connection explained, after a bounded try
// at removing the script and the environment file, not after ssh_timeout.
func TestShellGivesUpCleaningAMachineThatDroppedAndDidNotComeBack(t *testing.T) {
	defer func(d time.Duration) { failedCleanupGrace = d }(failedCleanupGrace)
	failedCleanupGrace = 50 * time.Millisecond
	env, out, dir := newEnv(t)
	env.Comm = &droppingComm{Communicator: env.Comm, dropRuns: 1, vanished: true}
	p := prepared(t, Config{Inline: []string{"echo rebooting"}, RemoteFolder: dir, UseEnvVarFile: true,
		EnvironmentVars: []string{"A=b"}, StartRetryTimeout: time.Hour})
	done := make(chan error, 1)
	go func() { done <- p.Provision(context.Background(), env) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "dropped") || !strings.Contains(err.Error(), "set expect_disconnect = true") {
			t.Fatalf("err = %v, want the dropped connection explained\n%s", err, out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Provision still waits for the vanished machine after 10s\n%s", out)
	}
}
