package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/wait"
)

// Comm is the docker communicator: commands run through the Engine API's
// exec calls, files and directories move through its archive calls. No
// docker CLI, no shared folder.
type Comm struct {
	cli         *client.Client
	containerID string
	// workDir resolves relative paths, as the container's shell would.
	workDir string
	// execUser runs commands (exec_user); "" is the container's user.
	execUser string
	// fixOwner gives uploaded files to the user commands run as.
	fixOwner bool
	// ui shows progress bars for large transfers; nil: none.
	ui plugin.UI
}

var _ communicator.Communicator = (*Comm)(nil)

// Run runs cmd.Command with /bin/sh -c in the container and returns its
// exit status. Output streams to cmd.Stdout and cmd.Stderr as it comes.
func (c *Comm) Run(ctx context.Context, cmd *communicator.Cmd) (int, error) {
	return c.exec(ctx, c.execUser, []string{"/bin/sh", "-c", cmd.Command}, cmd.Stdin, cmd.Stdout, cmd.Stderr)
}

func (c *Comm) exec(ctx context.Context, user string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	created, err := c.cli.ContainerExecCreate(ctx, c.containerID, container.ExecOptions{
		User:         user,
		Cmd:          argv,
		AttachStdin:  stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return -1, c.execError(ctx, "creating exec", err)
	}
	resp, err := c.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return -1, c.execError(ctx, "starting exec", err)
	}
	defer resp.Close()

	// Closing the connection is the only way to stop waiting for output
	// when the build is cancelled; the process itself ends with the
	// container, which the builder's cleanup removes.
	stop := context.AfterFunc(ctx, resp.Close)
	defer stop()

	if stdin != nil {
		go func() {
			_, _ = io.Copy(resp.Conn, stdin)
			_ = resp.CloseWrite()
		}()
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if _, err := stdcopy.StdCopy(stdout, stderr, resp.Reader); err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("running %q: %w", argv, context.Cause(ctx))
		}
		return -1, c.execError(ctx, "reading command output", err)
	}
	return c.exitCode(ctx, created.ID)
}

// exitCode waits for the engine to record the exec's exit: the output
// stream may end a moment before it does.
func (c *Comm) exitCode(ctx context.Context, execID string) (int, error) {
	delay := time.Millisecond
	for {
		st, err := c.cli.ContainerExecInspect(ctx, execID)
		if err != nil {
			return -1, c.execError(ctx, "reading the command's exit status", err)
		}
		if !st.Running {
			if c.stoppedUnder(ctx, st.ExitCode) {
				return st.ExitCode, fmt.Errorf("the container stopped while the command ran: %w", communicator.ErrDisconnected)
			}
			return st.ExitCode, nil
		}
		if err := wait.Sleep(ctx, delay); err != nil {
			return -1, err
		}
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// stoppedUnder reports whether a command that exited with code ended
// because the container stopped (a reboot, a poweroff, docker kill). A
// command that exited 0 ran to its end, so that costs no extra call. When
// the container is killed, its commands die of SIGKILL (137) a moment
// before the engine marks the container stopped: wait for that briefly.
func (c *Comm) stoppedUnder(ctx context.Context, code int) bool {
	switch {
	case code < 0:
		return true
	case code == 0:
		return false
	case !c.running(ctx):
		return true
	case code != 128+9 && code != 128+15:
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, killSettleTime)
	defer cancel()
	waitC, errC := c.cli.ContainerWait(wctx, c.containerID, container.WaitConditionNotRunning)
	select {
	case <-waitC:
		return true
	case <-errC:
		return false
	}
}

// killSettleTime is how long a command killed by a signal waits to see
// whether the container is stopping too.
const killSettleTime = time.Second

// running reports whether the build container still runs.
func (c *Comm) running(ctx context.Context) bool {
	info, err := c.cli.ContainerInspect(ctx, c.containerID)
	return err == nil && info.State != nil && info.State.Running
}

// execError says why a command could not be run; a stopped container is
// a disconnection (a provisioner with expect_disconnect accepts it).
func (c *Comm) execError(ctx context.Context, doing string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", doing, context.Cause(ctx))
	}
	if !c.running(ctx) {
		return fmt.Errorf("%s in container %s: %v: %w", doing, short(c.containerID), err, communicator.ErrDisconnected)
	}
	return fmt.Errorf("%s in container %s: %w", doing, short(c.containerID), err)
}

// abs makes p absolute against the container's working directory.
func (c *Comm) abs(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	wd := c.workDir
	if wd == "" {
		wd = "/"
	}
	return path.Join(wd, p)
}

// short is the 12-character id docker shows.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

var errIsDir = errors.New("is a directory")
