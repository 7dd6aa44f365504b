package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/imgbuild/imgbuild/internal/tempdir"
)

// swtpm is a software TPM (Debian's swtpm) serving one VM over a Unix
// socket, as Packer's vtpm option starts it.
type swtpm struct {
	cmd *exec.Cmd
	dir string // its state directory, which holds the socket
	// removeDir removes dir (imgbuild cleanup does after a kill -9).
	removeDir func() error
	socket    string
	done      chan struct{}
	stderr    *tailBuffer
}

// startSWTPM starts swtpm with its state in a new temporary directory and
// waits until its socket accepts QEMU. TPM 2.0 unless tpm1. attr places
// the process (the lifeline's guard, so that imgbuild's death takes it).
func startSWTPM(ctx context.Context, tpm1 bool, attr *syscall.SysProcAttr) (*swtpm, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		return nil, errors.New("vtpm = true needs swtpm, which is not installed: install the swtpm package, or remove vtpm")
	}
	dir, removeDir, err := tempdir.Dir("imgbuild-swtpm-")
	if err != nil {
		return nil, fmt.Errorf("creating the vTPM state directory: %w", err)
	}
	t := &swtpm{dir: dir, removeDir: removeDir, socket: filepath.Join(dir, "swtpm.sock"), done: make(chan struct{}), stderr: &tailBuffer{max: 4 << 10}}
	args := []string{"socket", "--tpmstate", "dir=" + dir, "--ctrl", "type=unixio,path=" + t.socket,
		// Exits when QEMU closes its connection, so a VM left running
		// after -on-error=abort takes its TPM with it when stopped.
		"--terminate"}
	if !tpm1 {
		args = append(args, "--tpm2")
	}
	t.cmd = exec.Command(bin, args...)
	t.cmd.Stdout, t.cmd.Stderr = t.stderr, t.stderr
	t.cmd.SysProcAttr = attr // the lifeline's group
	if err := t.cmd.Start(); err != nil {
		removeDir()
		return nil, fmt.Errorf("starting swtpm: %w", err)
	}
	go func() {
		_ = t.cmd.Wait()
		close(t.done)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(t.socket); err == nil {
			return t, nil
		}
		select {
		case <-t.done:
			err := fmt.Errorf("swtpm exited before creating its socket: %s", t.stderr.Bytes())
			return nil, errors.Join(err, t.stop())
		case <-ctx.Done():
			return nil, errors.Join(context.Cause(ctx), t.stop())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(errors.New("swtpm did not create its socket within 10s"), t.stop())
		}
	}
}

// stop kills swtpm if it still runs and removes its state directory.
func (t *swtpm) stop() error {
	select {
	case <-t.done:
	default:
		_ = t.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-t.done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("swtpm (pid %d) did not exit after SIGKILL", t.cmd.Process.Pid)
		}
	}
	if err := t.removeDir(); err != nil {
		return fmt.Errorf("removing the vTPM state: %w", err)
	}
	return nil
}

// tpmArgs connects QEMU to swtpm's socket with the configured device.
func tpmArgs(socket, device string) [][2]string {
	return [][2]string{
		{"-chardev", "socket,id=vtpm0,path=" + socket},
		{"-tpmdev", "emulator,id=tpm0,chardev=vtpm0"},
		{"-device", device + ",tpmdev=tpm0"},
	}
}
