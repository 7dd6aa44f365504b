package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/imgbuild/imgbuild/builders/docker"
	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// A checkpoint commit still under way when its build was killed finishes
// in the engine and makes an image no cache entry names. The commit was in
// the ledger, so imgbuild cleanup removes that image; a build whose
// commits returned leaves cleanup nothing.
func TestCleanupRemovesTheCheckpointImageOfACommitItsBuildNeverSawEnd(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	ctx := context.Background()
	state := t.TempDir() // this test's own ledger
	env := []string{"XDG_STATE_HOME=" + state}

	_, cacheEnv := cacheDir(t, cli)
	repo := enginetest.Unique("imgbuild-e2e-commit-")
	removeImage(t, cli, repo+":a")
	files := t.TempDir()
	writeFiles(t, files, map[string]string{"a.txt": "alpha\n", "b.txt": "beta\n"})
	r := imgbuild(t, append(env, cacheEnv...), "build", "-cache", "-var", "repo="+repo, "-var", "tag=a",
		"-var", "files="+files, template("cached.pkr.hcl"))
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	if c := imgbuild(t, env, "cleanup"); !strings.Contains(c.stdout, "Nothing to clean up.") {
		t.Errorf("after a build whose commits all returned, cleanup found:\n%s", c)
	}

	// What a killed build leaves: the commit in the ledger, written by a
	// process that is gone, and the image the engine made anyway.
	t.Setenv("XDG_STATE_HOME", state)
	l, err := ledger.Open("")
	if err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	run := enginetest.Unique("run-")
	comment := "imgbuild step cache " + strings.Repeat("e", 64) + " (run " + run + ")"
	host, _ := os.Hostname()
	if err := l.Append(ledger.Entry{Run: run, Action: ledger.Created, Kind: docker.KindCheckpointCommit, ID: comment,
		Endpoint: cli.DaemonHost(), Build: "docker.killed", PID: gone.Process.Pid, Host: host}); err != nil {
		t.Fatal(err)
	}
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.BaseImage}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	made, err := cli.ContainerCommit(ctx, c.ID, container.CommitOptions{Comment: comment})
	if err != nil {
		t.Fatal(err)
	}
	removeImage(t, cli, made.ID)

	res := imgbuild(t, env, "cleanup")
	if res.code != 0 || !strings.Contains(res.stdout, "docker checkpoint image") {
		t.Fatalf("cleanup did not report the killed build's checkpoint image:\n%s", res)
	}
	if _, err := cli.ImageInspect(ctx, made.ID); err == nil {
		t.Errorf("the killed build's checkpoint image %s is still there after cleanup", made.ID)
	}
	if again := imgbuild(t, env, "cleanup"); !strings.Contains(again.stdout, "Nothing to clean up.") {
		t.Errorf("a second cleanup found more:\n%s", again)
	}
}

const bigStepTemplate = `
source "docker" "bigstep" {
  image  = "` + testenv.BaseImage + `"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.bigstep"]
  provisioner "shell" { inline = ["head -c 402653184 /dev/zero > /big"] }
  provisioner "shell" { inline = ["sleep 30"] }
}
`

// An interrupt that comes while a checkpoint commit is under way (the
// build container is paused for it) lets the commit finish and records
// it: the step is cached, and nothing is left for cleanup (before, the
// engine finished the commit after imgbuild had gone, and the image
// stayed, named by no cache entry).
func TestAnInterruptDuringACheckpointCommitRecordsTheCheckpoint(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	tpl := filepath.Join(t.TempDir(), "bigstep.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(bigStepTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, env := cacheDir(t, cli)
	env = append(env, "XDG_STATE_HOME="+t.TempDir()) // its own ledger
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, _, _ := command(ctx, t, env, "build", "-cache", tpl)
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	paused := false
	for deadline := time.Now().Add(2 * time.Minute); !paused && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for _, c := range buildContainers(t, cli, "bigstep") {
			paused = paused || c.State == "paused"
		}
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if !paused {
		t.Fatalf("the build container was never paused for a commit:\n%s", out.String())
	}
	noContainersLeft(t, cli, "bigstep", out.String())
	store, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := store.List()
	if len(entries) != 1 || entries[0].Step != 1 {
		t.Errorf("the cache holds %d checkpoints after the interrupt, want provisioner 1's:\n%s", len(entries), out.String())
	}
	if r := imgbuild(t, append(env, "AWS_REGION=", "AWS_DEFAULT_REGION="), "cleanup"); r.code != 0 || !strings.Contains(r.stdout, "Nothing to clean up.") {
		t.Errorf("the interrupted build left something to clean up:\n%s", r)
	}
}
