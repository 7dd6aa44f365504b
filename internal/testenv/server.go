package testenv

import (
	"os/exec"
	"testing"
	"time"
)

// startServer starts cmd, a server of the test's own, and waits (30 s at
// most) until ready says it answers. The returned stop kills it; it is
// also stopped when the test ends.
func startServer(t testing.TB, cmd *exec.Cmd, what string, ready func() bool) (stop func()) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", what, err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(30 * time.Second); !ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within 30s", what)
		}
	}
	return stop
}
