package qemu

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// vm is a running QEMU process.
type vm struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done is closed
	stderr *tailBuffer
}

// exited reports whether QEMU has exited.
func (v *vm) exited() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}

// exitError describes how QEMU ended, with the end of its error output.
func (v *vm) exitError() error {
	msg := bytes.TrimSpace(v.stderr.Bytes())
	if len(msg) == 0 {
		return fmt.Errorf("qemu exited: %v", v.err)
	}
	return fmt.Errorf("qemu exited: %v: %s", v.err, msg)
}

// kill stops QEMU (SIGKILL) if it still runs and waits for it to be gone.
func (v *vm) kill(ctx context.Context) error {
	if v.exited() {
		return nil
	}
	_ = v.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-v.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("qemu (pid %d) did not exit after SIGKILL", v.cmd.Process.Pid)
	}
}

// stepQemu starts QEMU. Its cleanup always kills the process, so that no
// VM and no forwarded port outlives a failed or cancelled build.
func stepQemu(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	var cleanups []func() error
	if c.VNCUsePassword && !c.DisableVNC {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		st.vncPassword = hex.EncodeToString(b) // VNC passwords are at most 8 characters
		secret.Add(st.vncPassword)
	}
	if c.EFIBoot && !c.EFIDropEFIVars {
		st.efiVarsPath = filepath.Join(st.outputDir, "efivars.fd")
		if err := copyFile(c.EFIFirmwareVars, st.efiVarsPath); err != nil {
			return nil, fmt.Errorf("copying efi_firmware_vars: %w (install ovmf, or set efi_firmware_code and efi_firmware_vars)", err)
		}
	}
	if c.EFIBoot && !fileExists(c.EFIFirmwareCode) {
		return nil, fmt.Errorf("efi_firmware_code %s does not exist: install ovmf, or point efi_firmware_code at your UEFI firmware", c.EFIFirmwareCode)
	}
	if c.VTPM {
		return nil, errors.New("vtpm = true needs swtpm, which imgbuild does not start yet: remove vtpm or build with Packer")
	}
	if c.QMPEnable {
		st.qmpPath = c.QMPSocketPath
		if st.qmpPath == "" {
			st.qmpPath = filepath.Join(st.outputDir, c.VMName+".monitor")
		}
		cleanups = append(cleanups, func() error { return removeIfExists(st.qmpPath) })
	}
	args, err := buildArgs(st)
	if err != nil {
		return nil, err
	}
	binary, err := exec.LookPath(c.QemuBinary)
	if err != nil {
		return nil, fmt.Errorf("qemu_binary %q was not found: install qemu-system-x86 or set qemu_binary", c.QemuBinary)
	}
	st.ui.Say("Starting qemu (accelerator " + st.accel + ")")
	// The command line goes to the log (IMGBUILD_LOG), as Packer's does.
	slog.Debug("starting qemu", "build", st.env.Name, "command", secret.Mask(commandLine(binary, args)))
	v := &vm{done: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10}}
	// Not exec.CommandContext: the process must outlive a cancelled step
	// until the cleanup kills it and waits for it.
	cmd := exec.Command(binary, args...)
	cmd.Stdout = v.stderr
	cmd.Stderr = v.stderr
	// Its own process group keeps a terminal's Ctrl-C from reaching QEMU
	// before imgbuild has cleaned up; Pdeathsig kills it if imgbuild dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	v.cmd = cmd
	go func() {
		v.err = cmd.Wait()
		close(v.done)
	}()
	st.vm = v
	cleanup := func(ctx context.Context) error {
		err := v.kill(ctx)
		for _, f := range cleanups {
			err = errors.Join(err, f())
		}
		return err
	}
	// A wrong argument makes QEMU exit at once; the later steps watch for
	// its exit (untilExit, sleepOrExit) and report its error output then.
	st.generated["ID"] = c.VMName
	return cleanup, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}
