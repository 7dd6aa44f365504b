package qemu

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A process the lifeline guards dies the moment imgbuild's end of the
// pipe closes (as when imgbuild is killed), however soon after its start
// that is; a released lifeline leaves it running.
func TestLifelineKillsItsGroupWhenImgbuildGoesAndNotWhenReleased(t *testing.T) {
	start := func(l *lifeline) *exec.Cmd {
		t.Helper()
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = l.guard()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	exited := func(cmd *exec.Cmd) bool {
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}

	l, err := newLifeline()
	if err != nil {
		t.Fatal(err)
	}
	guarded := start(l)
	// imgbuild "dies" right after the start: no release, the pipe closes.
	l.w.Close()
	if !exited(guarded) {
		t.Error("the guarded process outlived imgbuild's end of the pipe")
	}
	_ = l.cmd.Wait()

	l, err = newLifeline()
	if err != nil {
		t.Fatal(err)
	}
	kept := start(l)
	l.release()
	if err := kept.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("a released lifeline killed the process: %v", err)
	}
}
