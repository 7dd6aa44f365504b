package e2e

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// A sensitive value in environment_vars never rides in a command line
// (issue 14, defect 4): while the script runs, no process in the build
// container has it in its arguments, yet the script sees it.
func TestSecretEnvironmentVarsStayOutOfProcessArguments(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	const token = "env-token-3c9d1f-secret"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, _, _ := command(ctx, t, nil, "build", "-var", "token="+token, template("secretenv.pkr.hcl"))
	sb := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = sb, sb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// On a failure below, interrupt (not kill) so that the build removes
	// its container.
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(sb.String(), "sleeping now with the token set") {
		if time.Now().After(deadline) {
			t.Fatalf("the script never ran with the token:\n%s", sb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ids := containerIDs(sb.String())
	if len(ids) != 1 {
		t.Fatalf("want one build container in the output:\n%s", sb.String())
	}
	top, err := exec.Command("docker", "top", ids[0], "-eo", "pid,args").CombinedOutput()
	if err != nil {
		t.Fatalf("docker top: %v\n%s", err, top)
	}
	if strings.Contains(string(top), token) {
		t.Errorf("the token is in a process's arguments:\n%s", top)
	}
	if !strings.Contains(string(top), "sleep 30") {
		t.Errorf("docker top does not show the running script; the check proves nothing:\n%s", top)
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	noContainersLeft(t, cli, "secretenv", sb.String())
	if strings.Contains(sb.String(), token) {
		t.Errorf("the token is in the output:\n%s", sb.String())
	}
}
