package pluginhost

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Plugin processes get SIGKILL when the thread that started them ends
// (Pdeathsig), so that a kill -9 of imgbuild takes them along. Linux ties
// that signal to the starting thread, not the process, and Go ends
// threads whose goroutine exits while locked to them: a process started
// from an arbitrary goroutine could be killed at a random later moment.
// Every plugin is therefore started from one goroutine locked to its own
// thread for the life of imgbuild.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// startTied starts cmd in its own process group (a terminal's Ctrl-C
// reaches imgbuild only; imgbuild cancels plugins through the protocol)
// and tied to imgbuild's life.
func startTied(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as imgbuild
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	done := make(chan error, 1)
	spawner.reqs <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// killGroup kills the process group of a plugin started by startTied:
// the plugin and whatever it started (docker CLI calls, ansible-playbook).
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
