package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/docker/docker/api/types/image"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/cache/remote"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestSharedCacheLetsAnEmptyRunnerRebuildWithoutRunningAProvisioner: two
// cache folders stand for two CI runners on one engine. Between them
// every image runner A made is removed, so what runner B reuses came
// through the object store.
func TestSharedCacheLetsAnEmptyRunnerRebuildWithoutRunningAProvisioner(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	srv := testenv.UseS3(t)
	repo := enginetest.Unique("imgbuild-e2e-share-")
	files := filepath.Join(t.TempDir(), "files")
	writeFiles(t, files, map[string]string{"a.txt": "alpha\n", "b.txt": "beta\n"})
	url := srv.URL("docker")

	build := func(env []string, tag string) string {
		t.Helper()
		removeImage(t, cli, repo+":"+tag)
		r := imgbuild(t, env, "build", "-cache-url", url, "-var", "repo="+repo, "-var", "tag="+tag,
			"-var", "files="+files, template("cached.pkr.hcl"))
		noContainersLeft(t, cli, "cached", r.stdout)
		if r.code != 0 {
			t.Fatalf("build %s failed:\n%s", tag, r)
		}
		return r.stdout
	}

	dirA, envA := cacheDir(t, cli)
	out := build(envA, "a")
	ran(t, "runner A (cold)", out, 1, 2, 3, 4)
	if strings.Count(out, ") shared in ") != 4 {
		t.Errorf("runner A did not share its 4 checkpoints:\n%s", out)
	}
	coldFiles := imageFiles(t, cli, repo+":a")
	// Every runner with these keys has the base image: its layers are
	// not stored.
	noBaseLayerShared(t, cli, url, testenv.BaseImage, 4)

	// Runner A goes away with everything it made.
	store, err := cache.Open(dirA)
	if err != nil {
		t.Fatal(err)
	}
	entriesA, _ := store.List()
	if _, err := cli.ImageRemove(context.Background(), repo+":a", image.RemoveOptions{PruneChildren: true}); err != nil {
		t.Fatal(err)
	}
	if r := imgbuild(t, envA, "cache", "prune", "--all"); r.code != 0 {
		t.Fatalf("imgbuild cache prune --all:\n%s", r)
	}
	for _, e := range entriesA {
		if _, err := cli.ImageInspect(context.Background(), e.Ref); err == nil {
			t.Fatalf("checkpoint image %s of runner A is still in the engine", e.Ref)
		}
	}

	_, envB := cacheDir(t, cli)
	out = build(envB, "b")
	ran(t, "runner B (empty, shared cache)", out)
	// Each docker checkpoint holds the whole machine: only the last is
	// downloaded.
	if strings.Count(out, "Downloading checkpoint") != 1 || !strings.Contains(out, "(provisioner 4, ") || strings.Count(out, "restored from cache") != 4 {
		t.Errorf("runner B did not download the last checkpoint alone and restore 4 steps:\n%s", out)
	}
	if diffs := diffFiles(imageFiles(t, cli, repo+":b"), coldFiles); len(diffs) > 0 {
		t.Errorf("runner B's image differs from runner A's cold build:\n%s", strings.Join(diffs, "\n"))
	}

	// A pull-request runner reads but never writes.
	_, envC := cacheDir(t, cli)
	r := imgbuild(t, envC, "build", "-cache-url", url, "-cache-mode", "read", "-var", "repo="+repo, "-var", "tag=c",
		"-var", "files="+files, "-var", "last=changed", template("cached.pkr.hcl"))
	removeImage(t, cli, repo+":c")
	if r.code != 0 {
		t.Fatalf("read-only build failed:\n%s", r)
	}
	ran(t, "runner C (read only, last step changed)", r.stdout, 4)
	if strings.Contains(r.stdout, ") shared in ") {
		t.Errorf("a -cache-mode read build stored checkpoints:\n%s", r.stdout)
	}

	r = imgbuild(t, envC, "cache", "ls", "--cache-url", url)
	if r.code != 0 || strings.Count(r.stdout, "docker.cached") != 4 {
		t.Errorf("imgbuild cache ls --cache-url does not list the 4 shared checkpoints:\n%s", r)
	}
	r = imgbuild(t, envC, "cache", "prune", "--all", "--cache-url", url)
	if r.code != 0 || !strings.Contains(r.stdout, "4 checkpoints removed") {
		t.Errorf("imgbuild cache prune --all --cache-url:\n%s", r)
	}
}

// TestSharedCacheServerStoppedMidBuildCostsOneWarningNotTheBuild stops
// the S3 server while the first provisioner's output is printed: the
// build still succeeds, and says once that the shared cache is not used.
func TestSharedCacheServerStoppedMidBuildCostsOneWarningNotTheBuild(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	srv, stop := testenv.UseOwnS3(t)
	repo := enginetest.Unique("imgbuild-e2e-share-stop-")
	files := filepath.Join(t.TempDir(), "files")
	writeFiles(t, files, map[string]string{"a.txt": "alpha\n"})
	_, env := cacheDir(t, cli)
	removeImage(t, cli, repo+":x")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, _, _ := command(ctx, t, env, "build", "-cache-url", srv.URL("stop"), "-var", "repo="+repo, "-var", "tag=x",
		"-var", "files="+files, template("cached.pkr.hcl"))
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !strings.Contains(out.String(), markers[1]); {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("provisioner 1 never ran:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	err := cmd.Wait()
	noContainersLeft(t, cli, "cached", out.String())
	if err != nil {
		t.Fatalf("the build failed when the S3 server stopped: %v\n%s", err, out.String())
	}
	ran(t, "build with the server stopped", out.String(), 1, 2, 3, 4)
	if n := strings.Count(out.String(), "Warning: the shared cache"); n != 1 {
		t.Errorf("%d warnings about the shared cache, want 1:\n%s", n, out.String())
	}
	if strings.Contains(out.String(), ") shared in ") {
		t.Errorf("the build claims to have shared checkpoints with a stopped server:\n%s", out.String())
	}
}

// TestTwoRunnersOnTheSameColdTemplateRunEachProvisionerOnce starts two
// runners at once: one takes the lease and builds, the other waits for
// its checkpoints and runs nothing.
func TestTwoRunnersOnTheSameColdTemplateRunEachProvisionerOnce(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	srv := testenv.UseS3(t)
	repo := enginetest.Unique("imgbuild-e2e-share-lease-")
	files := filepath.Join(t.TempDir(), "files")
	writeFiles(t, files, map[string]string{"a.txt": "alpha\n"})
	url := srv.URL("lease")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	type run struct {
		cmd *exec.Cmd
		out *testenv.SyncBuffer
	}
	var runs []run
	// Both runners' images go before either cache is pruned (cleanups run
	// last-registered first): on this one engine, runner two's checkpoint
	// images are runner one's, and one's image keeps them.
	_, env1 := cacheDir(t, cli)
	_, env2 := cacheDir(t, cli)
	for i, tag := range []string{"one", "two"} {
		env := [][]string{env1, env2}[i]
		removeImage(t, cli, repo+":"+tag)
		cmd, _, _ := command(ctx, t, env, "build", "-cache-url", url, "-var", "repo="+repo, "-var", "tag="+tag,
			"-var", "files="+files, template("cached.pkr.hcl"))
		var out testenv.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		runs = append(runs, run{cmd, &out})
	}
	for _, r := range runs {
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	all := ""
	for i, r := range runs {
		err := r.cmd.Wait()
		if err != nil {
			t.Errorf("runner %d failed: %v\n%s", i+1, err, r.out.String())
		}
		all += r.out.String()
	}
	for step, marker := range markers {
		if n := strings.Count(all, marker); n != 1 {
			t.Errorf("provisioner %d ran %d times in total, want once:\n%s", step, n, all)
		}
	}
	if !strings.Contains(all, "Waiting for ") {
		t.Errorf("neither runner waited for the other:\n%s", all)
	}
	if diffs := diffFiles(imageFiles(t, cli, repo+":two"), imageFiles(t, cli, repo+":one")); len(diffs) > 0 {
		t.Errorf("the two runners' images differ:\n%s", strings.Join(diffs, "\n"))
	}
}

// heavyTemplate's steps each add 16 MiB that does not compress, so that
// storing them takes long enough to be killed in the middle.
const heavyTemplate = `
variable "repo" { type = string }
source "docker" "heavy" {
  image  = "` + testenv.BaseImage + `"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.heavy"]
  provisioner "shell" { inline = ["echo HEAVY-ONE-RAN", "head -c 16777216 /dev/urandom > /one"] }
  provisioner "shell" { inline = ["echo HEAVY-TWO-RAN", "head -c 16777216 /dev/urandom > /two"] }
  provisioner "shell" { inline = ["echo HEAVY-THREE-RAN", "head -c 16777216 /dev/urandom > /three"] }
  post-processor "docker-tag" {
    repository = var.repo
    tags       = ["x"]
  }
}
`

// TestARunnerKilledWhileStoringLeavesNoEntryWithoutItsFiles kills -9 a
// build while it stores its checkpoints: every entry left names files
// that are all stored, and the next runner builds the image.
func TestARunnerKilledWhileStoringLeavesNoEntryWithoutItsFiles(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	srv := testenv.UseS3(t)
	repo := enginetest.Unique("imgbuild-e2e-share-kill-")
	tpl := filepath.Join(t.TempDir(), "heavy.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(heavyTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	url := srv.URL("kill")
	dirA, envA := cacheDir(t, cli)
	envA = append(envA, "XDG_STATE_HOME="+t.TempDir()) // its own ledger, for the cleanup after the kill
	_, envB := cacheDir(t, cli)
	removeImage(t, cli, repo+":x")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, _, _ := command(ctx, t, envA, "build", "-cache-url", url, "-var", "repo="+repo, tpl)
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A checkpoint is stored as soon as it is made, while the build goes on.
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(out.String(), "saved to cache"); {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the build never got to storing its checkpoints:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Killed once a first file is stored: its entry comes after all of them.
	stored := false
	for deadline := time.Now().Add(time.Minute); !stored && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		blobs, err := srv.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("kill/blobs/")})
		stored = err == nil && len(blobs.Contents) > 0
	}
	cmd.Process.Kill()
	cmd.Wait()
	// The image the build committed, if it got that far (never tagged).
	if m := regexp.MustCompile(`Image ID: (sha256:[0-9a-f]{64})`).FindStringSubmatch(out.String()); m != nil {
		removeImage(t, cli, m[1])
	}
	// What the kill left in the engine: the container, a checkpoint whose
	// commit the engine finished after the kill (waited for: the
	// container is paused while it is committed).
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		paused := false
		for _, c := range buildContainers(t, cli, "heavy") {
			paused = paused || c.State == "paused"
		}
		if !paused {
			break
		}
	}
	// (No region: the environment's would be searched for AWS leftovers.)
	if r := imgbuild(t, append(envA, "AWS_REGION=", "AWS_DEFAULT_REGION="), "cleanup"); r.code != 0 {
		t.Fatalf("imgbuild cleanup after the kill:\n%s", r)
	}
	if !stored {
		t.Fatalf("the build stored no file within a minute:\n%s", out.String())
	}
	if strings.Count(out.String(), ") shared in ") == 3 {
		t.Logf("the build stored everything before it was killed: this run proves less")
	}

	// Every entry left is whole.
	listed := imgbuild(t, envA, "cache", "ls", "--cache-url", url)
	entries := strings.Count(listed.stdout, "docker.heavy")
	t.Logf("%d entries stored before the kill", entries)
	list, err := srv.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("kill/entries/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		obj, err := srv.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.Bucket, Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Files []remote.File `json:"files"`
		}
		err = json.NewDecoder(obj.Body).Decode(&e)
		obj.Body.Close()
		if err != nil || len(e.Files) == 0 {
			t.Fatalf("entry %s does not read: %v", *o.Key, err)
		}
		for _, f := range e.Files {
			for _, c := range f.Blobs() {
				blob := "kill/blobs/sha256/" + strings.TrimPrefix(c.Digest, "sha256:") + ".zst"
				if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: &blob}); err != nil {
					t.Errorf("entry %s names %s, which is not stored: %v", *o.Key, blob, err)
				}
			}
		}
	}

	// The next runner (not waiting for the dead one's lease) builds.
	r := imgbuild(t, envB, "build", "-cache-url", url, "-cache-wait", "0", "-var", "repo="+repo, tpl)
	if r.code != 0 {
		t.Fatalf("the build after the kill failed:\n%s", r)
	}
	ran := strings.Count(r.stdout, "-RAN")
	if ran+entries != 3 && !(entries == 0 && ran == 3) {
		t.Errorf("after %d stored entries the next runner ran %d steps, want %d:\n%s", entries, ran, 3-entries, r.stdout)
	}
	// The killed runner's working files go with its cache's next use.
	imgbuild(t, envA, "cache", "prune", "--all")
	if left, _ := filepath.Glob(filepath.Join(dirA, "data", "active-*")); len(left) > 0 {
		t.Errorf("the killed runner's working files are left: %v", left)
	}
}

// TestAnInterruptedSharedBuildLeavesNothingBehind sends SIGINT to a build
// while it uploads its first checkpoint (uploads run during the build):
// the build stops, its container goes, a checkpoint commit under way is
// finished and recorded (cleanup finds nothing), the upload stops (no
// multipart upload is left, each blob is one whole PUT), the local cache keeps no
// working file, and every entry stored names files that are all there.
func TestAnInterruptedSharedBuildLeavesNothingBehind(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	srv := testenv.UseS3(t)
	repo := enginetest.Unique("imgbuild-e2e-share-int-")
	tpl := filepath.Join(t.TempDir(), "heavy.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(heavyTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	removeImage(t, cli, repo+":x")
	dir, env := cacheDir(t, cli)
	env = append(env, "XDG_STATE_HOME="+t.TempDir()) // its own ledger
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, _, _ := command(ctx, t, env, "build", "-cache-url", srv.URL("int"), "-var", "repo="+repo, tpl)
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupted once the first chunk of its first checkpoint is stored:
	// the others are under way.
	uploading := false
	for deadline := time.Now().Add(2 * time.Minute); !uploading && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		list, err := srv.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("int/blobs/")})
		uploading = err == nil && len(list.Contents) > 0
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if !uploading {
		t.Fatalf("the build never started to upload:\n%s", out.String())
	}
	if err == nil {
		t.Fatalf("the interrupted build exited 0:\n%s", out.String())
	}
	noContainersLeft(t, cli, "heavy", out.String())
	// Nothing for cleanup either: a checkpoint commit under way at the
	// interrupt finished and was recorded, not left to the engine. (No
	// region: the environment's would be searched for AWS leftovers.)
	if r := imgbuild(t, append(env, "AWS_REGION=", "AWS_DEFAULT_REGION="), "cleanup"); r.code != 0 || !strings.Contains(r.stdout, "Nothing to clean up.") {
		t.Errorf("the interrupted build left something to clean up:\n%s", r)
	}
	ups, err := srv.Client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart upload(s) left on the server after the interrupt:\n%s", len(ups.Uploads), out.String())
	}
	working, _ := filepath.Glob(filepath.Join(dir, "*", cache.WorkingPrefix+"*"))
	if len(working) != 0 {
		t.Errorf("working files left in the cache: %v", working)
	}
	store, err := remote.Open(ctx, srv.URL("int"))
	if err != nil {
		t.Fatal(err)
	}
	listed, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range listed {
		for _, f := range e.Files {
			for _, c := range f.Blobs() {
				blob := aws.String("int/blobs/sha256/" + strings.TrimPrefix(c.Digest, "sha256:") + ".zst")
				if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: blob}); err != nil {
					t.Errorf("entry %s names chunk %s of %s, which is not stored", e.Key.Short(), c.Digest, f.Role)
				}
			}
		}
	}
}
