package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// bootCommandData is what {{ .X }} in boot_command can refer to.
type bootCommandData struct {
	HTTPIP, HTTPPort, Name, SSHPublicKey string
}

// stepBootCommand waits boot_wait, then types boot_command (or each of
// boot_steps) at the console over VNC.
func stepBootCommand(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	cmds := c.bootCommands()
	if len(cmds) == 0 || c.DisableVNC {
		return nil, nil
	}
	if c.BootWait > 0 {
		st.ui.Say(fmt.Sprintf("Waiting %s for boot", c.BootWait))
		if err := sleepOrExit(ctx, st, c.BootWait); err != nil {
			return nil, err
		}
	}
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	client, err := dialVNC(vctx, net.JoinHostPort(c.VNCBindAddress, strconv.Itoa(st.vncPort)), st.vncPassword)
	cancel()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	interval := c.BootKeyInterval
	if interval == 0 {
		interval = 100 * time.Millisecond
		if v, err := time.ParseDuration(os.Getenv("PACKER_KEY_INTERVAL")); err == nil {
			interval = v
		}
	}
	data := bootCommandData{HTTPIP: st.httpIP, HTTPPort: st.httpPort, Name: c.VMName, SSHPublicKey: st.sshPublicKey}
	for i, raw := range cmds {
		text, err := expand(raw, data)
		if err != nil {
			return nil, fmt.Errorf("boot_command: %w", err)
		}
		acts, err := parseKeys(text)
		if err != nil {
			return nil, fmt.Errorf("boot_command: %w", err)
		}
		if len(c.BootSteps) > 0 {
			desc := ""
			if len(c.BootSteps[i]) > 1 {
				desc = ": " + c.BootSteps[i][1]
			}
			st.ui.Say(fmt.Sprintf("Typing boot step %d/%d%s", i+1, len(cmds), desc))
		} else {
			st.ui.Say("Typing the boot command over VNC")
		}
		if err := client.typeKeys(ctx, acts, interval); err != nil {
			return nil, err
		}
		if st.vm.exited() {
			return nil, st.vm.exitError()
		}
	}
	return nil, nil
}

// untilExit returns a context that is cancelled, with QEMU's exit as
// cause, when the VM stops.
func untilExit(ctx context.Context, st *state) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-st.vm.done:
			cancel(st.vm.exitError())
		case <-cctx.Done():
		}
	}()
	return cctx, func() { cancel(nil) }
}

func sleepOrExit(ctx context.Context, st *state, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-st.vm.done:
		return st.vm.exitError()
	}
}

// stepConnect waits for SSH on the forwarded port.
func stepConnect(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	st.generated["Host"] = st.sshHost
	st.generated["Port"] = strconv.Itoa(st.sshPort)
	st.generated["User"] = c.SSHUsername
	st.generated["Password"] = c.SSHPassword
	if c.Type == communicator.TypeNone {
		return nil, nil
	}
	st.ui.Say(fmt.Sprintf("Waiting for SSH on %s:%d", st.sshHost, st.sshPort))
	cctx, cancel := untilExit(ctx, st)
	defer cancel()
	comm, err := ssh.Connect(cctx, &c.Config, st.sshHost, st.sshPort, st.ui)
	if err != nil {
		if cause := context.Cause(cctx); cause != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("waiting for SSH: %w", cause)
		}
		return nil, err
	}
	st.comm = comm
	return func(ctx context.Context) error {
		closeComm(st)
		return nil
	}, nil
}

func closeComm(st *state) {
	if cl, ok := st.comm.(io.Closer); ok && cl != nil {
		_ = cl.Close()
	}
	st.comm = nil
}

// stepProvision hands the machine to the provisioners.
func stepProvision(ctx context.Context, st *state) (steps.Cleanup, error) {
	if st.env.Provision == nil {
		return nil, nil
	}
	cctx, cancel := untilExit(ctx, st)
	defer cancel()
	if err := st.env.Provision(cctx, cacheComm(st), st.generated); err != nil {
		if cause := context.Cause(cctx); cause != nil && ctx.Err() == nil && st.vm.exited() {
			return nil, fmt.Errorf("%w (%w)", err, cause)
		}
		return nil, err
	}
	return nil, nil
}

// stepShutdown runs shutdown_command and waits shutdown_timeout for QEMU to
// exit; without a command it stops QEMU, which flushes its disks first.
func stepShutdown(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	if c.Type == communicator.TypeNone {
		// No way in: the guest (an unattended installer) powers off by
		// itself, as with Packer.
		st.ui.Say(fmt.Sprintf("Waiting up to %s (shutdown_timeout) for the VM to power off", c.ShutdownTimeout))
		return nil, waitExit(ctx, st, c.ShutdownTimeout, "(communicator \"none\": the guest must power off by itself)")
	}
	if c.ShutdownCommand == "" || st.comm == nil {
		st.ui.Say("Stopping the VM")
		_ = st.vm.cmd.Process.Signal(syscall.SIGTERM)
		closeComm(st)
		return nil, waitExit(ctx, st, time.Minute, "after SIGTERM")
	}
	st.ui.Say("Sending the shutdown command")
	out, errw := st.ui.Stdout(), st.ui.Stderr()
	rctx, cancel := untilExit(ctx, st)
	status, err := st.comm.Run(rctx, &communicator.Cmd{Command: c.ShutdownCommand, Stdout: out, Stderr: errw})
	cancel()
	out.Close()
	errw.Close()
	closeComm(st)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case err != nil && !errors.Is(err, communicator.ErrDisconnected) && !st.vm.exited():
		return nil, fmt.Errorf("running shutdown_command: %w", err)
	case err == nil && status != 0:
		// Packer does not check it either: the VM stopping is what counts.
		st.ui.Error(fmt.Sprintf("shutdown_command exited with status %d; waiting for the VM to stop anyway", status))
	}
	return nil, waitExit(ctx, st, c.ShutdownTimeout, "after shutdown_command (shutdown_timeout)")
}

func waitExit(ctx context.Context, st *state, d time.Duration, what string) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-st.vm.done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return fmt.Errorf("the VM did not stop within %s %s: check shutdown_command, or raise shutdown_timeout", d, what)
	}
}
