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
	"strings"
	"sync"
	"syscall"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/steps"
	"github.com/imgbuild/imgbuild/internal/tempdir"
)

// vm is a running QEMU process.
type vm struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done is closed
	stderr *tailBuffer
	life   *lifeline // kills QEMU if imgbuild dies; released when QEMU exits
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

// writeVNCPasswordFile puts the VNC password in a 0600 file of the run's
// temporary folder, which QEMU reads (-object secret,file=): given as
// data= it would be on QEMU's command line, for ps to show. The returned
// function removes the file.
func writeVNCPasswordFile(st *state) (func() error, error) {
	f, remove, err := tempdir.File("imgbuild-vnc-*.secret")
	if err != nil {
		return nil, fmt.Errorf("writing the VNC password file: %w", err)
	}
	_, err = f.WriteString(st.vncPassword)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		remove()
		return nil, fmt.Errorf("writing the VNC password file: %w", err)
	}
	st.vncPasswordFile = f.Name()
	return remove, nil
}

// stepQemu starts QEMU. Its cleanup always kills the process, so that no
// VM and no forwarded port outlives a failed or cancelled build.
func stepQemu(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	var cleanups []func() error
	runCleanups := func() (err error) {
		for _, f := range cleanups {
			err = errors.Join(err, f())
		}
		return err
	}
	if c.VNCUsePassword && !c.DisableVNC {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		st.vncPassword = hex.EncodeToString(b) // VNC passwords are at most 8 characters
		secret.Add(st.vncPassword)
		remove, err := writeVNCPasswordFile(st)
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, remove)
	}
	if c.EFIBoot && !fileExists(c.EFIFirmwareCode) {
		return nil, errors.Join(fmt.Errorf("efi_firmware_code %s does not exist: install ovmf, or point efi_firmware_code at your UEFI firmware", c.EFIFirmwareCode), runCleanups())
	}
	if c.EFIBoot && !c.EFIDropEFIVars {
		// A copy: the firmware writes its boot entries into it, and it
		// belongs with the image (the disk boots with it).
		st.efiVarsPath = filepath.Join(st.outputDir, "efivars.fd")
		if err := copyFile(c.EFIFirmwareVars, st.efiVarsPath); err != nil {
			return nil, errors.Join(fmt.Errorf("copying efi_firmware_vars: %w (install ovmf, or set efi_firmware_code and efi_firmware_vars)", err), runCleanups())
		}
	}
	if c.QMPEnable {
		st.qmpPath = c.QMPSocketPath
		if st.qmpPath == "" {
			st.qmpPath = filepath.Join(st.outputDir, c.VMName+".monitor")
		}
		cleanups = append(cleanups, func() error { return removeIfExists(st.qmpPath) })
	} else if st.cache != nil {
		// -cache checkpoints through QMP, on a socket of its own.
		p, remove, err := cacheQMPSocket(st.cache.resume.DataDir)
		if err != nil {
			return nil, errors.Join(err, runCleanups())
		}
		st.qmpPath = p
		cleanups = append(cleanups, remove)
	}
	// The lifeline first: QEMU and swtpm join it as they start.
	life, err := newLifeline()
	if err != nil {
		return nil, errors.Join(err, runCleanups())
	}
	cleanups = append(cleanups, func() error { life.release(); return nil })
	if c.VTPM { // last before QEMU: nothing that fails early leaves it running
		tpm, err := startSWTPM(ctx, c.VTPMUseTPM1, life.guard())
		if err != nil {
			return nil, errors.Join(err, runCleanups())
		}
		st.tpm = tpm
		cleanups = append(cleanups, tpm.stop)
	}
	args, err := buildArgs(st)
	if err != nil {
		return nil, errors.Join(err, runCleanups())
	}
	if st.cache != nil && st.cache.incoming {
		args = append(args, "-incoming", "defer") // the saved state comes through QMP
	}
	binary, err := exec.LookPath(c.QemuBinary)
	if err != nil {
		err = fmt.Errorf("qemu_binary %q was not found: install qemu-system-x86 or set qemu_binary", c.QemuBinary)
		return nil, errors.Join(err, runCleanups())
	}
	st.ui.Say("Starting qemu (accelerator " + st.accel + ")")
	// The command line goes to the log (IMGBUILD_LOG), as Packer's does.
	slog.Debug("starting qemu", "build", st.env.Name, "command", secret.Mask(commandLine(binary, args)))
	v := &vm{done: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10}, life: life}
	// Not exec.CommandContext: the process must outlive a cancelled step
	// until the cleanup kills it and waits for it.
	cmd := exec.Command(binary, args...)
	cmd.Stdout = v.stderr
	cmd.Stderr = v.stderr
	// In the lifeline's process group, not the terminal's: a Ctrl-C does
	// not reach QEMU; imgbuild stops it in the cleanup, or leaves it
	// running after -on-error=abort, and the lifeline kills it if
	// imgbuild dies instead.
	cmd.SysProcAttr = life.guard()
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("starting %s: %w", binary, err), runCleanups())
	}
	v.cmd = cmd
	go func() {
		v.err = cmd.Wait()
		// Released at once: the pid may be reused from now on.
		v.life.release()
		close(v.done)
	}()
	st.vm = v
	cleanup := func(ctx context.Context) error {
		return errors.Join(v.kill(ctx), runCleanups())
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

// leftRunning lets go of a VM whose cleanup was skipped (-on-error=abort
// or ask): like Packer, imgbuild leaves it running for inspection, and
// says how to reach it and how to stop it.
func leftRunning(st *state) {
	if st.vm == nil || st.vm.exited() {
		return
	}
	st.vm.life.release()
	pid := st.vm.cmd.Process.Pid
	lines := []string{fmt.Sprintf("QEMU (pid %d) was left running for inspection.", pid)}
	if st.sshPort > 0 && st.cfg.Type != "none" {
		lines = append(lines, fmt.Sprintf("  SSH:  ssh -p %d %s@%s", st.sshPort, st.cfg.SSHUsername, st.sshHost))
	}
	if st.vncPort > 0 && !st.cfg.DisableVNC {
		lines = append(lines, fmt.Sprintf("  VNC:  %s:%d", st.cfg.VNCBindAddress, st.vncPort))
	}
	if st.qmpPath != "" {
		lines = append(lines, "  QMP monitor socket: "+st.qmpPath)
	} else {
		lines = append(lines, "  (no QMP monitor socket: set qmp_enable = true to get one)")
	}
	lines = append(lines, fmt.Sprintf("Stop it with `kill %d`, then remove %s", pid, st.outputDir))
	if st.tpm != nil {
		lines[len(lines)-1] += " and " + st.tpm.dir + " (the vTPM state; swtpm stops with QEMU)"
	}
	st.ui.Say(strings.Join(lines, "\n"))
}
