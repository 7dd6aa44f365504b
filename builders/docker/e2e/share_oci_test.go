package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestOCICacheLetsAnEmptyRunnerRebuildFromPlainImages: runner A builds
// cold and pushes its checkpoints to a registry as images, then goes
// away with everything it made. A checkpoint is an image docker itself
// pulls and runs; runner B, with an empty cache, rebuilds without running
// a provisioner; runner C, with a changed last step, pulls the prefix and
// runs only that step. cache ls and prune work on the registry.
func TestOCICacheLetsAnEmptyRunnerRebuildFromPlainImages(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	reg := testenv.UseRegistry(t)
	repo := enginetest.Unique("imgbuild-e2e-oci-")
	files := filepath.Join(t.TempDir(), "files")
	writeFiles(t, files, map[string]string{"a.txt": "alpha\n", "b.txt": "beta\n"})
	url := reg.URL()
	ledgerEnv := "XDG_STATE_HOME=" + t.TempDir() // this test's own ledger

	build := func(env []string, tag string, extra ...string) string {
		t.Helper()
		removeImage(t, cli, repo+":"+tag)
		env = append(env, ledgerEnv)
		args := append([]string{"build", "-cache-url", url, "-var", "repo=" + repo, "-var", "tag=" + tag,
			"-var", "files=" + files}, extra...)
		r := imgbuild(t, env, append(args, template("cached.pkr.hcl"))...)
		noContainersLeft(t, cli, "cached", r.stdout)
		if r.code != 0 {
			t.Fatalf("build %s failed:\n%s", tag, r)
		}
		return r.stdout
	}

	dirA, envA := cacheDir(t, cli)
	out := build(envA, "a")
	ran(t, "runner A (cold)", out, 1, 2, 3, 4)
	if strings.Count(out, ") shared in "+url) != 4 {
		t.Errorf("runner A did not share its 4 checkpoints:\n%s", out)
	}
	coldFiles := imageFiles(t, cli, repo+":a")

	// Runner A goes away with everything it made.
	store, err := cache.Open(dirA)
	if err != nil {
		t.Fatal(err)
	}
	entriesA, _ := store.List()
	if len(entriesA) != 4 {
		t.Fatalf("runner A has %d local entries, want 4", len(entriesA))
	}
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

	// The last checkpoint is a plain image: docker pulls it by its key
	// and runs it, and it carries no label of the cache's.
	last := entriesA[len(entriesA)-1]
	for _, e := range entriesA {
		if e.Step == 4 {
			last = e
		}
	}
	name := reg.Name() + ":" + string(last.Key)
	if out, err := exec.Command("docker", "pull", "-q", name).CombinedOutput(); err != nil {
		t.Fatalf("docker pull %s: %v\n%s", name, err, out)
	}
	if got := dockerRun(t, name, "cat", "/etc/last"); got != "last v1\n" {
		t.Errorf("the checkpoint image %s holds /etc/last = %q, want the fourth step's %q", name, got, "last v1\n")
	}
	if info, err := cli.ImageInspect(context.Background(), name); err != nil || len(info.Config.Labels) != 0 || info.ID != last.Ref {
		t.Errorf("pulled checkpoint %s: id %s labels %v (%v), want id %s and no labels", name, info.ID, info.Config.Labels, err, last.Ref)
	}
	if _, err := cli.ImageRemove(context.Background(), name, image.RemoveOptions{PruneChildren: true}); err != nil {
		t.Fatal(err)
	}

	_, envB := cacheDir(t, cli)
	out = build(envB, "b")
	ran(t, "runner B (empty, shared cache)", out)
	// Each image holds the whole machine: only the last is pulled.
	if strings.Count(out, "Downloading checkpoint") != 1 || !strings.Contains(out, "(provisioner 4, ") || strings.Count(out, "restored from cache") != 4 {
		t.Errorf("runner B did not pull the last checkpoint alone and restore 4 steps:\n%s", out)
	}
	if strings.Contains(out, ") shared in ") {
		t.Errorf("runner B shared checkpoints the registry already had:\n%s", out)
	}
	if diffs := diffFiles(imageFiles(t, cli, repo+":b"), coldFiles); len(diffs) > 0 {
		t.Errorf("runner B's image differs from runner A's cold build:\n%s", strings.Join(diffs, "\n"))
	}

	_, envC := cacheDir(t, cli)
	out = build(envC, "c", "-var", "last=changed")
	ran(t, "runner C (empty, last step changed)", out, 4)
	if strings.Count(out, "Downloading checkpoint") != 1 || !strings.Contains(out, "(provisioner 3, ") || strings.Count(out, ") shared in ") != 1 {
		t.Errorf("runner C did not pull the third checkpoint alone and share its changed fourth:\n%s", out)
	}
	if got := dockerRun(t, repo+":c"); got != "changed\n" {
		t.Errorf("runner C's image says %q, want the changed last step's %q", got, "changed\n")
	}

	// A pull-request runner reads but never writes.
	_, envD := cacheDir(t, cli)
	out = build(envD, "d", "-cache-mode", "read", "-var", "last=read only")
	ran(t, "runner D (read only, last step changed)", out, 4)
	if strings.Count(out, "Downloading checkpoint") != 1 || !strings.Contains(out, "(provisioner 3, ") || strings.Contains(out, ") shared in ") {
		t.Errorf("runner D did not pull the third checkpoint alone, or stored its own:\n%s", out)
	}
	// Runner D goes now: its step 4 is a child of step 3's image, which
	// runner C's cache (pruned later) holds too.
	if _, err := cli.ImageRemove(context.Background(), repo+":d", image.RemoveOptions{PruneChildren: true}); err != nil {
		t.Fatal(err)
	}
	if r := imgbuild(t, envD, "cache", "prune", "--all"); r.code != 0 {
		t.Fatalf("imgbuild cache prune --all (runner D):\n%s", r)
	}

	r := imgbuild(t, envC, "cache", "ls", "--cache-url", url)
	if r.code != 0 || strings.Count(r.stdout, "docker.cached") != 5 {
		t.Errorf("imgbuild cache ls --cache-url does not list the 5 shared checkpoints:\n%s", r)
	}
	r = imgbuild(t, envC, "cache", "prune", "--older-than", "1h", "--cache-url", url)
	if r.code != 0 || !strings.Contains(r.stdout, "0 checkpoints removed") {
		t.Errorf("imgbuild cache prune --older-than 1h removed checkpoints used a moment ago:\n%s", r)
	}
	r = imgbuild(t, envC, "cache", "prune", "--all", "--cache-url", url)
	if r.code != 0 || !strings.Contains(r.stdout, "5 checkpoints removed") {
		t.Errorf("imgbuild cache prune --all --cache-url:\n%s", r)
	}
	if tags, err := reg.Tags(); err != nil || len(tags) != 1 || tags[0] != "imgbuild-salt" {
		t.Errorf("after prune --all the repository holds %v (%v), want only the salt", tags, err)
	}
	// The names pushes and pulls gave the images are gone, and so known
	// to the ledger.
	noNamesIn(t, reg.Name())
	if r := imgbuild(t, []string{ledgerEnv}, "cleanup"); r.code != 0 || !strings.Contains(r.stdout, "Nothing to clean up.") {
		t.Errorf("imgbuild cleanup after the builds:\n%s", r)
	}
}

// noNamesIn fails when an image in the engine has a name (tag or digest)
// in repository name.
func noNamesIn(t *testing.T, name string) {
	t.Helper()
	out, err := exec.Command("docker", "images", "--digests", "--format", "{{.Repository}}:{{.Tag}}@{{.Digest}}", name).CombinedOutput()
	if err != nil {
		t.Fatalf("docker images %s: %v\n%s", name, err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("the engine still has images named in %s:\n%s", name, s)
	}
}

// TestOCICacheRunnerKilledWhilePushingLeavesNothingCleanupMisses kills -9
// a build while the engine pushes a checkpoint: the name the image has
// for the push is in the ledger, and imgbuild cleanup removes it.
func TestOCICacheRunnerKilledWhilePushingLeavesNothingCleanupMisses(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	reg := testenv.UseRegistry(t)
	repo := enginetest.Unique("imgbuild-e2e-oci-kill-")
	tpl := filepath.Join(t.TempDir(), "heavy.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(heavyTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	_, env := cacheDir(t, cli)
	// Its own ledger, and its own temporary folder: the killed build
	// leaves the lock file of the name it was pushing.
	env = append(env, "XDG_STATE_HOME="+t.TempDir(), "TMPDIR="+t.TempDir())
	removeImage(t, cli, repo+":x")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, _, _ := command(ctx, t, env, "build", "-cache-url", reg.URL(), "-var", "repo="+repo, tpl)
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	named := false
	for deadline := time.Now().Add(2 * time.Minute); !named && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		list, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", reg.Name()))})
		named = err == nil && len(list) > 0
	}
	cmd.Process.Kill()
	cmd.Wait()
	// The image the build committed, which the killed run never tagged.
	if m := regexp.MustCompile(`Image ID: (sha256:[0-9a-f]{64})`).FindStringSubmatch(out.String()); m != nil {
		removeImage(t, cli, m[1])
	}
	if !named {
		t.Fatalf("no checkpoint image was named for a push within 2 minutes:\n%s", out.String())
	}
	if strings.Count(out.String(), ") shared in ") == 3 {
		t.Logf("the build pushed everything before it was killed: this run proves less")
	}
	r := imgbuild(t, env, "cleanup")
	if r.code != 0 {
		t.Fatalf("imgbuild cleanup:\n%s", r)
	}
	if !strings.Contains(r.stdout, "docker image name "+reg.Name()) {
		t.Errorf("imgbuild cleanup did not remove the push's image name:\n%s", r)
	}
	noNamesIn(t, reg.Name())
}

// TestOCICacheRegistryGoneCostsOneWarningNotTheBuild: a registry that
// does not answer when the build starts, and one that stops while the
// first provisioner runs, each cost one warning; the build succeeds.
func TestOCICacheRegistryGoneCostsOneWarningNotTheBuild(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	repo := enginetest.Unique("imgbuild-e2e-oci-gone-")
	files := filepath.Join(t.TempDir(), "files")
	writeFiles(t, files, map[string]string{"a.txt": "alpha\n"})
	// Each build its own tag: the second would leave the first's image
	// without a name.
	args := func(url, tag string) []string {
		removeImage(t, cli, repo+":"+tag)
		return []string{"build", "-cache-url", url, "-var", "repo=" + repo, "-var", "tag=" + tag, "-var", "files=" + files, template("cached.pkr.hcl")}
	}
	oneWarning := func(phase, out string) {
		t.Helper()
		ran(t, phase, out, 1, 2, 3, 4)
		if n := strings.Count(out, "Warning: the shared cache"); n != 1 {
			t.Errorf("%s: %d warnings about the shared cache, want 1:\n%s", phase, n, out)
		}
		if strings.Contains(out, ") shared in ") {
			t.Errorf("%s: the build claims to have shared checkpoints:\n%s", phase, out)
		}
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	_, env := cacheDir(t, cli)
	r := imgbuild(t, env, args("oci://"+closed+"/nobody-listens", "unreachable")...)
	noContainersLeft(t, cli, "cached", r.stdout)
	if r.code != 0 {
		t.Fatalf("the build failed with the registry unreachable:\n%s", r)
	}
	oneWarning("registry unreachable at the start", r.stdout)

	reg, stop := testenv.StartRegistry(t)
	_, env = cacheDir(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, _, _ := command(ctx, t, env, args(reg.URL(), "stopped")...)
	var buf testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !strings.Contains(buf.String(), markers[1]); {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("provisioner 1 never ran:\n%s", buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	err = cmd.Wait()
	noContainersLeft(t, cli, "cached", buf.String())
	if err != nil {
		t.Fatalf("the build failed when the registry stopped: %v\n%s", err, buf.String())
	}
	oneWarning("registry stopped mid-build", buf.String())
}

// TestOCICacheCheckpointThatIsNotItsEntrysImageIsRebuiltAndReplaced: an
// entry whose image is another than the one it names (a tag rewritten by
// hand, a registry that serves something else) is reported, not used,
// and replaced by the runner that rebuilds the step from the checkpoint
// before it.
func TestOCICacheCheckpointThatIsNotItsEntrysImageIsRebuiltAndReplaced(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	reg := testenv.UseRegistry(t)
	repo := enginetest.Unique("imgbuild-e2e-oci-bad-")
	files := filepath.Join(t.TempDir(), "files")
	writeFiles(t, files, map[string]string{"a.txt": "alpha\n"})
	build := func(env []string, tag string) string {
		t.Helper()
		removeImage(t, cli, repo+":"+tag)
		r := imgbuild(t, env, "build", "-cache-url", reg.URL(), "-var", "repo="+repo, "-var", "tag="+tag,
			"-var", "files="+files, template("cached.pkr.hcl"))
		if r.code != 0 {
			t.Fatalf("build %s failed:\n%s", tag, r)
		}
		return r.stdout
	}
	goAway := func(env []string, tag string) {
		t.Helper()
		if _, err := cli.ImageRemove(context.Background(), repo+":"+tag, image.RemoveOptions{PruneChildren: true}); err != nil {
			t.Fatal(err)
		}
		if r := imgbuild(t, env, "cache", "prune", "--all"); r.code != 0 {
			t.Fatalf("imgbuild cache prune --all:\n%s", r)
		}
	}
	dirA, envA := cacheDir(t, cli)
	build(envA, "a")
	store, err := cache.Open(dirA)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := store.List()
	byStep := map[int]cache.Entry{}
	for _, e := range entries {
		byStep[e.Step] = e
	}
	if byStep[3].Key == "" || byStep[4].Key == "" {
		t.Fatalf("runner A lacks checkpoints of steps 3 and 4: %v", entries)
	}
	// Step 4's entry now names step 3's image id.
	rewriteEntry(t, reg, byStep[4].Key, func(m map[string]any) { m["ref"] = byStep[3].Ref })
	goAway(envA, "a")

	_, envB := cacheDir(t, cli)
	out := build(envB, "b")
	ran(t, "runner B (step 4's entry wrong)", out, 4)
	if n := strings.Count(out, "is damaged and is not used"); n != 1 {
		t.Errorf("%d warnings about a damaged checkpoint, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "(provisioner 3, ") || strings.Count(out, ") shared in ") != 1 {
		t.Errorf("runner B did not pull step 3 and store its step 4 in place of the wrong one:\n%s", out)
	}
	// Runner B goes away too (on this one engine, its checkpoints and
	// runner C's would share their names).
	goAway(envB, "b")
	_, envC := cacheDir(t, cli)
	out = build(envC, "c")
	ran(t, "runner C (after the repair)", out)
}

// rewriteEntry changes the JSON of key's entry in the registry (the
// config of <key>.meta) with change, as a hand or a faulty tool might.
func rewriteEntry(t *testing.T, reg testenv.Registry, key cache.Key, change func(map[string]any)) {
	t.Helper()
	base := "http://" + reg.Addr + "/v2/" + reg.Repo
	get := func(url string, accept string) []byte {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", url, resp.Status)
		}
		return b
	}
	var m struct {
		Config struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
			Size      int64  `json:"size"`
		} `json:"config"`
	}
	const ociManifest = "application/vnd.oci.image.manifest.v1+json"
	raw := get(base+"/manifests/"+string(key)+".meta", ociManifest)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var entry map[string]any
	if err := json.Unmarshal(get(base+"/blobs/"+m.Config.Digest, ""), &entry); err != nil {
		t.Fatal(err)
	}
	change(entry)
	blob, _ := json.Marshal(entry)
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(blob))
	resp, err := http.Post(base+"/blobs/uploads/", "", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting an upload: %v %v", err, resp)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPut, resp.Header.Get("Location")+"&digest="+digest, bytes.NewReader(blob))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("uploading the changed entry: %v %v", err, resp)
	}
	resp.Body.Close()
	var manifest map[string]any
	json.Unmarshal(raw, &manifest)
	manifest["config"] = map[string]any{"mediaType": m.Config.MediaType, "digest": digest, "size": len(blob)}
	mb, _ := json.Marshal(manifest)
	req, _ = http.NewRequest(http.MethodPut, base+"/manifests/"+string(key)+".meta", bytes.NewReader(mb))
	req.Header.Set("Content-Type", ociManifest)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("writing the changed entry: %v %v", err, resp)
	}
	resp.Body.Close()
}

// TestOCICacheTwoRunnersAtOnceBothBuildAndLeaveUsableEntries: oci:// takes
// no lease, so two runners started together on a cold template may both
// build every step and both push; whichever entries stay, each names its
// own image by digest, and a third runner rebuilds from them running
// nothing.
func TestOCICacheTwoRunnersAtOnceBothBuildAndLeaveUsableEntries(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	reg := testenv.UseRegistry(t)
	repo := enginetest.Unique("imgbuild-e2e-oci-race-")
	files := filepath.Join(t.TempDir(), "files")
	writeFiles(t, files, map[string]string{"a.txt": "alpha\n"})
	args := func(tag string) []string {
		return []string{"build", "-cache-url", reg.URL(), "-var", "repo=" + repo, "-var", "tag=" + tag,
			"-var", "files=" + files, template("cached.pkr.hcl")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	type run struct {
		cmd *exec.Cmd
		out *testenv.SyncBuffer
		dir string
		env []string
	}
	var runs []run
	for _, tag := range []string{"one", "two"} {
		dir, env := cacheDir(t, cli)
		removeImage(t, cli, repo+":"+tag)
		cmd, _, _ := command(ctx, t, env, args(tag)...)
		var out testenv.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		runs = append(runs, run{cmd, &out, dir, env})
	}
	for _, r := range runs {
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range runs {
		if err := r.cmd.Wait(); err != nil {
			t.Fatalf("runner %d failed: %v\n%s", i+1, err, r.out.String())
		}
		if strings.Contains(r.out.String(), "Warning") {
			t.Errorf("runner %d warned:\n%s", i+1, r.out.String())
		}
	}
	// Both runners made every step on this one engine: each checkpoint
	// image still has a name (had two images shared one, the engine could
	// lose the image it moved from). Then both go away, and a third runner
	// rebuilds from what the registry holds.
	var made []string
	for i, r := range runs {
		store, err := cache.Open(r.dir)
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := store.List()
		for _, e := range entries {
			made = append(made, e.Ref)
			if info, err := cli.ImageInspect(context.Background(), e.Ref); err != nil || len(info.RepoTags) == 0 {
				t.Errorf("runner %d's checkpoint %s has no name (%v)", i+1, e.Key.Short(), err)
			}
		}
	}
	for i, r := range runs {
		tag := []string{"one", "two"}[i]
		if _, err := cli.ImageRemove(context.Background(), repo+":"+tag, image.RemoveOptions{PruneChildren: true}); err != nil {
			t.Fatal(err)
		}
		if p := imgbuild(t, r.env, "cache", "prune", "--all"); p.code != 0 {
			t.Fatalf("imgbuild cache prune --all:\n%s", p)
		}
	}
	for i := len(made) - 1; i >= 0; i-- {
		_, _ = cli.ImageRemove(context.Background(), made[i], imageRemoveForce)
	}
	_, env := cacheDir(t, cli)
	removeImage(t, cli, repo+":three")
	r := imgbuild(t, env, args("three")...)
	if r.code != 0 {
		t.Fatalf("runner 3 failed:\n%s", r)
	}
	ran(t, "runner 3 (after two runners at once)", r.stdout)
	if strings.Contains(r.stdout, "Warning") {
		t.Errorf("runner 3 found a damaged entry:\n%s", r.stdout)
	}
}
