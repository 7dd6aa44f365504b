package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// lifeline kills QEMU (and swtpm) if imgbuild dies without cleaning up,
// even by SIGKILL: a small shell holds the read end of a pipe and, when it
// reads end-of-file, kills its own process group, which QEMU and swtpm
// join as they start. So no moment exists in which they run and imgbuild's
// death would not take them along (a pid handed over after the start
// would leave one). Unlike Pdeathsig it can be let go, so that
// -on-error=abort leaves the VM running for inspection as Packer does.
type lifeline struct {
	w    *os.File
	cmd  *exec.Cmd
	once sync.Once
}

// newLifeline starts the watcher, before the processes it guards.
func newLifeline() (*lifeline, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the qemu watchdog pipe: %w", err)
	}
	// A line (release) lets it exit; end-of-file (imgbuild died) kills
	// the group: QEMU, swtpm and the watcher itself.
	script := `read -r line || kill -9 0`
	cmd := exec.Command("/bin/sh", "-c", script, "imgbuild-lifeline")
	cmd.Stdin = r
	// Its own process group, which the guarded processes join: a
	// terminal's Ctrl-C reaches none of them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("starting the qemu watchdog (/bin/sh): %w", err)
	}
	return &lifeline{w: w, cmd: cmd}, nil
}

// guard makes a process started with these attributes one the watcher
// kills if imgbuild dies: it joins the watcher's process group.
func (l *lifeline) guard() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pgid: l.cmd.Process.Pid}
}

// release lets the watcher exit without killing anything. Called once the
// processes are stopped, or to leave them running on purpose.
func (l *lifeline) release() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		_, _ = l.w.Write([]byte("release\n"))
		_ = l.w.Close()
		_ = l.cmd.Wait()
	})
}
