package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
)

// lifeline kills QEMU (and swtpm) if imgbuild dies without cleaning up,
// even by SIGKILL: a small shell holds the read end of a pipe and kills the
// processes when it reads end-of-file. Unlike Pdeathsig it can be let go,
// so that -on-error=abort leaves the VM running for inspection as Packer
// does.
type lifeline struct {
	w     *os.File
	cmd   *exec.Cmd
	once  sync.Once
	armed bool
}

// newLifeline starts the watcher. It is started before QEMU, and armed
// with the processes' ids right after they start, so that no moment exists
// in which a QEMU runs that imgbuild's death would not take along.
func newLifeline() (*lifeline, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the qemu watchdog pipe: %w", err)
	}
	// The first line names the processes; end-of-file before the second
	// (imgbuild died) kills them.
	script := `read -r pids || exit 0
read -r line || { [ -n "$pids" ] && kill -KILL $pids 2>/dev/null; }`
	cmd := exec.Command("/bin/sh", "-c", script, "imgbuild-lifeline")
	cmd.Stdin = r
	// Its own process group: a terminal's Ctrl-C must not end it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("starting the qemu watchdog (/bin/sh): %w", err)
	}
	return &lifeline{w: w, cmd: cmd}, nil
}

// arm names the processes to kill if imgbuild dies.
func (l *lifeline) arm(pids ...int) error {
	line := ""
	for i, p := range pids {
		if i > 0 {
			line += " "
		}
		line += strconv.Itoa(p)
	}
	l.armed = true
	if _, err := l.w.Write([]byte(line + "\n")); err != nil {
		return fmt.Errorf("arming the qemu watchdog: %w", err)
	}
	return nil
}

// release lets the watcher exit without killing anything. Called once the
// processes are stopped, or to leave them running on purpose.
func (l *lifeline) release() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		if !l.armed {
			_, _ = l.w.Write([]byte("\n"))
		}
		_, _ = l.w.Write([]byte("release\n"))
		_ = l.w.Close()
		_ = l.cmd.Wait()
	})
}
