package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/communicator/ssh"
)

// sshdAdvice ends SSH connection errors: with communicator = "ssh", the
// container's own process has to be an SSH server.
const sshdAdvice = `communicator = "ssh" needs an SSH server running in the container: start it with run_command, for example ["-d", "{{.Image}}", "/usr/sbin/sshd", "-D"]`

// connectSSH serves communicator = "ssh": Packer then connects to the
// container's address (or ssh_host) instead of using exec.
func connectSSH(ctx context.Context, st *state) (communicator.Communicator, func(), error) {
	host := st.cfg.SSHHost
	if host == "" {
		host = st.generated["Host"]
	}
	if host == "" {
		return nil, nil, fmt.Errorf("communicator = \"ssh\": container %s has no IP address on the default bridge; set ssh_host", short(st.containerID))
	}
	// A container whose sshd failed to start stops at once: end the wait
	// for SSH then, with its output, instead of at ssh_timeout.
	waitCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go watchForStop(waitCtx, st, cancel)

	comm, err := ssh.Connect(waitCtx, &st.cfg.Config, host, st.cfg.SSHPort, st.env.UI)
	if err != nil {
		var stopped *containerStoppedError
		if errors.As(context.Cause(waitCtx), &stopped) && ctx.Err() == nil {
			return nil, nil, stopped
		}
		// Nothing answering is the usual mistake: no sshd started.
		if errors.Is(err, ssh.ErrUnreachable) || errors.Is(err, ssh.ErrTimeout) {
			err = fmt.Errorf("%w; %s", err, sshdAdvice)
		}
		return nil, nil, err
	}
	st.generated["Port"] = fmt.Sprint(st.cfg.SSHPort)
	st.generated["User"] = st.cfg.SSHUsername
	return &checkpointSSH{checkpointComm: checkpointComm{Communicator: comm, st: st}, ssh: comm}, func() { comm.Close() }, nil
}

// containerStoppedError says the build container stopped, with its output.
type containerStoppedError struct {
	id   string
	code int64
	logs string
}

func (e *containerStoppedError) Error() string {
	return fmt.Sprintf("the build container %s stopped (exit code %d) before SSH answered; %s%s", short(e.id), e.code, sshdAdvice, e.logs)
}

// watchForStop cancels ctx with a containerStoppedError when the build
// container stops; it returns when ctx ends.
func watchForStop(ctx context.Context, st *state, cancel context.CancelCauseFunc) {
	waitC, errC := st.cli.ContainerWait(ctx, st.containerID, container.WaitConditionNotRunning)
	select {
	case r := <-waitC:
		lctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		logs := containerLogs(lctx, st.cli, st.containerID, st.spec.config.Tty)
		stop()
		cancel(&containerStoppedError{id: st.containerID, code: r.StatusCode, logs: logs})
	case <-errC:
	}
}
