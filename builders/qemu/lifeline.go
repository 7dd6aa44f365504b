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
	w    *os.File
	cmd  *exec.Cmd
	once sync.Once
}

// newLifeline starts the watcher for pids.
func newLifeline(pids ...int) (*lifeline, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the qemu watchdog pipe: %w", err)
	}
	args := []string{"-c", `read -r line || kill -KILL "$@" 2>/dev/null`, "imgbuild-lifeline"}
	for _, p := range pids {
		args = append(args, strconv.Itoa(p))
	}
	cmd := exec.Command("/bin/sh", args...)
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
