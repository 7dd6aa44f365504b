package amazonebs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

// TestHelperProcessBuild is not a test: the kill -9 test runs the test
// binary with IMGBUILD_EBS_HELPER set, and this function then builds until
// it is provisioning, says so in a file, and waits to be killed.
func TestHelperProcessBuild(t *testing.T) {
	if os.Getenv("IMGBUILD_EBS_HELPER") != "1" {
		return // only as the helper process of TestKill9MidBuildThenCleanupRemovesEverything
	}
	port, _ := strconv.Atoi(os.Getenv("IMGBUILD_EBS_SSH_PORT"))
	c := baseConfig(t, "kill9")
	c.Config = communicator.Config{SSHHost: "127.0.0.1", SSHPort: port, SSHUsername: sshd.User, TemporaryKeyPairType: "ed25519"}
	c.TemporaryIAMInstanceProfilePolicyDoc = logsPolicy()
	c.SpotPrice = "auto" // a spot build: its launch template is left too
	b := prepared(t, c)
	env, _ := newEnv(t, "kill9")
	env.RunUUID = os.Getenv("IMGBUILD_EBS_RUN")
	env.Provision = func(ctx context.Context, _ communicator.Communicator, _ plugin.GeneratedData) error {
		os.WriteFile(os.Getenv("IMGBUILD_EBS_READY"), []byte("provisioning"), 0o644)
		<-ctx.Done()
		return ctx.Err()
	}
	b.Run(context.Background(), env)
}

func TestKill9MidBuildThenCleanupRemovesEverything(t *testing.T) {
	motoEnv(t)
	srv := sshd.Start(t)
	run := uuid.NewString()
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessBuild$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		"IMGBUILD_EBS_HELPER=1", "IMGBUILD_EBS_RUN="+run, "IMGBUILD_EBS_READY="+ready,
		"IMGBUILD_EBS_SSH_PORT="+strconv.Itoa(srv.Port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, ready, cmd)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if l := leftovers(t, "us-east-1", run); len(l) < 3 {
		t.Fatalf("after kill -9, want the instance, key pair and security group left, got %v", l)
	}
	if l := launchTemplatesOf(t, run); len(l) != 1 {
		t.Fatalf("after kill -9, want the launch template left, got %v", l)
	}
	if l := iamLeftovers(t, run); len(l) != 2 {
		t.Fatalf("after kill -9, want the temporary role and instance profile left, got %v", l)
	}

	l, err := ledger.Open("")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := l.Read()
	if ledger.RunAlive(entries, run) {
		t.Error("a killed run still looks alive")
	}
	sw := &awsclient.Sweeper{Ledger: l, Regions: []string{"us-east-1"}}
	found, err := sw.Find(context.Background(), run, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, f := range found {
		kinds = append(kinds, f.Kind)
	}
	got := strings.Join(kinds, ",")
	if want := "instance,launch-template,security-group,key-pair,iam-instance-profile,iam-role"; got != want {
		t.Errorf("cleanup found %q (%v), want %s in that order", got, found, want)
	}
	for _, f := range found {
		if f.Found != "ledger" {
			t.Errorf("%s was found by %s, want the ledger", f, f.Found)
		}
		if err := sw.Remove(context.Background(), f); err != nil {
			t.Errorf("removing: %v", err)
		}
	}
	assertNoLeftovers(t, run, "us-east-1")
	if l := iamLeftovers(t, run); len(l) > 0 {
		t.Errorf("cleanup left %v", l)
	}
	if l := launchTemplatesOf(t, run); len(l) > 0 {
		t.Errorf("cleanup left launch templates %v", l)
	}
	if again, err := sw.Find(context.Background(), run, nil); err != nil || len(again) > 0 {
		t.Errorf("a second search found %v, %v; want nothing", again, err)
	}
}

// Resources that a crash left before the ledger write are still found by
// their run tag.
func TestCleanupFindsTaggedResourcesMissingFromTheLedger(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "tagonly")
	c.SpotPrice = "auto" // its launch template is found by tag too
	b := prepared(t, c)
	env, _ := newEnv(t, "tagonly")
	env.Provision = func(context.Context, communicator.Communicator, plugin.GeneratedData) error { return nil }
	// Keep everything (as after a crash), then forget the ledger.
	env.Steps.KeepOnFailure = func(error) bool { return true }
	env.Steps.BeforeStep = func(_ context.Context, step string) error {
		if step == "stop" {
			return context.Canceled
		}
		return nil
	}
	if _, err := b.Run(context.Background(), env); err == nil {
		t.Fatal("the build did not stop")
	}
	p, _ := ledger.DefaultPath()
	os.Remove(p)
	l, _ := ledger.Open("")
	sw := &awsclient.Sweeper{Ledger: l, Regions: []string{"us-east-1"}}
	found, err := sw.Find(context.Background(), env.RunUUID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 3 {
		t.Fatalf("found %v, want the instance, the launch template and the security group", found)
	}
	for _, f := range found {
		if f.Found != "tag" {
			t.Errorf("%s: found by %s, want tag", f, f.Found)
		}
		if err := sw.Remove(context.Background(), f); err != nil {
			t.Error(err)
		}
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
}

// waitFile waits until the helper process wrote file; it kills the helper
// and fails when that takes over two minutes.
func waitFile(t *testing.T, file string, cmd *exec.Cmd) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(file); err == nil {
			return
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the build process did not reach provisioning within 2 minutes")
		}
		if cmd.ProcessState != nil {
			t.Fatal("the build process ended before provisioning")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
