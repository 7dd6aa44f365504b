package e2e

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// A sensitive value in environment_vars never rides in a command line
// (issue 14, defect 4): the engine's record of the execs (docker events)
// does not hold it, yet the script sees it.
func TestSecretEnvironmentVarsStayOutOfExecCommandLines(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	const token = "env-token-3c9d1f-secret"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := time.Now()
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
	// The engine records every exec's command line: docker events shows it
	// to anyone who can talk to the engine.
	events, err := exec.Command("docker", "events", "--since", strconv.FormatInt(started.Unix()-1, 10),
		"--until", strconv.FormatInt(time.Now().Unix()+1, 10), "--filter", "container="+ids[0], "--format", "{{.Action}}").CombinedOutput()
	if err != nil {
		t.Fatalf("docker events: %v\n%s", err, events)
	}
	if strings.Contains(string(events), token) {
		t.Errorf("the token is in an exec's command line:\n%s", events)
	}
	if !strings.Contains(string(events), "exec_create: ") {
		t.Errorf("docker events shows no exec; the check proves nothing:\n%s", events)
	}
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	noContainersLeft(t, cli, "secretenv", sb.String())
	if strings.Contains(sb.String(), token) {
		t.Errorf("the token is in the output:\n%s", sb.String())
	}
}
