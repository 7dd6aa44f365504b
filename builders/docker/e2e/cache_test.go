package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
)

// markers are what each shell provisioner of cached.pkr.hcl prints when
// it runs (the file provisioner, step 2, prints its "Uploading" line).
var markers = map[int]string{1: "STEP-ONE-RAN", 2: "Uploading ", 3: "STEP-THREE-RAN", 4: "STEP-FOUR-RAN"}

// ran checks which of the four steps ran, by their output.
func ran(t *testing.T, phase string, out string, want ...int) {
	t.Helper()
	for step := 1; step <= 4; step++ {
		should := false
		for _, w := range want {
			should = should || w == step
		}
		if got := strings.Contains(out, markers[step]); got != should {
			t.Errorf("%s: provisioner %d ran = %v, want %v:\n%s", phase, step, got, should, out)
		}
	}
}

// TestCacheRunsOnlyTheStepsWhoseInputsChanged drives one cache through the
// life of a template: each rebuild must run exactly the steps whose key
// changed (and those after them), and make an image whose files are those
// of a cold build without -cache.
func TestCacheRunsOnlyTheStepsWhoseInputsChanged(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	_, env := cacheDir(t, cli)
	repo := enginetest.Unique("imgbuild-e2e-cache-")
	files := filepath.Join(t.TempDir(), "files")
	writeFiles(t, files, map[string]string{"a.txt": "alpha v1\n", "b.txt": "beta\n"})

	build := func(tag string, cached bool, vars ...string) result {
		t.Helper()
		removeImage(t, cli, repo+":"+tag)
		args := []string{"build", "-var", "repo=" + repo, "-var", "tag=" + tag, "-var", "files=" + files}
		for _, v := range vars {
			args = append(args, "-var", v)
		}
		runEnv := env
		switch {
		case cached && tag == "unchanged": // IMGBUILD_CACHE=1 means -cache
			runEnv = append(env[:len(env):len(env)], "IMGBUILD_CACHE=1")
		case cached:
			args = append(args, "-cache")
		}
		r := imgbuild(t, runEnv, append(args, template("cached.pkr.hcl"))...)
		noContainersLeft(t, cli, "cached", r.stdout)
		return r
	}
	mustBuild := func(tag string, cached bool, vars ...string) string {
		t.Helper()
		r := build(tag, cached, vars...)
		if r.code != 0 {
			t.Fatalf("build %s failed:\n%s", tag, r)
		}
		return r.stdout
	}

	out := mustBuild("cold", true)
	ran(t, "cold build", out, 1, 2, 3, 4)
	if n := strings.Count(out, "saved to cache"); n != 4 {
		t.Errorf("cold build saved %d checkpoints, want 4:\n%s", n, out)
	}
	mustBuild("ref-v1", false)
	sameFiles(t, cli, repo+":cold", repo+":ref-v1")
	sameConfig(t, cli, repo+":cold", repo+":ref-v1")
	// The last provisioner's checkpoint is the final image's parent: the
	// image was not committed from the container a second time.
	if !builtOnACheckpoint(t, cli, repo+":cold") || builtOnACheckpoint(t, cli, repo+":ref-v1") {
		t.Errorf("the cold -cache build's image should be made from its last checkpoint, the build without -cache's not")
	}

	out = mustBuild("unchanged", true)
	ran(t, "unchanged rebuild", out)
	if n := strings.Count(out, "restored from cache"); n != 4 {
		t.Errorf("unchanged rebuild restored %d steps, want 4:\n%s", n, out)
	}
	sameFiles(t, cli, repo+":unchanged", repo+":ref-v1")
	sameConfig(t, cli, repo+":unchanged", repo+":ref-v1")

	out = mustBuild("last", true, "last=last v2")
	ran(t, "last step changed", out, 4)
	mustBuild("ref-last", false, "last=last v2")
	sameFiles(t, cli, repo+":last", repo+":ref-last")
	// The comparison can tell images apart: the two cold builds differ.
	if v1, v2 := imageFiles(t, cli, repo+":ref-v1")["etc/last"], imageFiles(t, cli, repo+":ref-last")["etc/last"]; v1 == "" || v1 == v2 {
		t.Errorf("the file comparison does not see /etc/last change: %q vs %q", v1, v2)
	}

	writeFiles(t, files, map[string]string{"a.txt": "alpha v2\n"})
	out = mustBuild("files", true, "last=last v2")
	ran(t, "uploaded file changed", out, 2, 3, 4)
	mustBuild("ref-files", false, "last=last v2")
	sameFiles(t, cli, repo+":files", repo+":ref-files")

	// A failure at step 3 keeps steps 1 and 2; the fixed build resumes at 3.
	writeFiles(t, files, map[string]string{"a.txt": "alpha v3\n"})
	r := build("failed", true, "last=last v2", "fail=true")
	if r.code == 0 {
		t.Fatalf("the build meant to fail at step 3 succeeded:\n%s", r)
	}
	ran(t, "failing build", r.stdout, 2, 3)
	out = mustBuild("fixed", true, "last=last v2")
	ran(t, "fixed build", out, 3, 4)
	if !strings.Contains(out, "Provisioner 2 (file) restored from cache") {
		t.Errorf("the fixed build did not resume from the failed build's step 2 checkpoint:\n%s", out)
	}
	mustBuild("ref-fixed", false, "last=last v2")
	sameFiles(t, cli, repo+":fixed", repo+":ref-fixed")
	sameConfig(t, cli, repo+":fixed", repo+":ref-fixed")

	r = imgbuild(t, env, "cache", "ls")
	if r.code != 0 || strings.Count(r.stdout, "docker.cached") < 4 || !strings.Contains(r.stdout, "2 file") {
		t.Errorf("imgbuild cache ls does not list the checkpoints:\n%s", r)
	}
}

// TestWithoutCacheNothingIsCheckpointed proves a build without -cache
// leaves no checkpoint and says nothing about a cache.
func TestWithoutCacheNothingIsCheckpointed(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	dir, env := cacheDir(t, cli)
	repo := enginetest.Unique("imgbuild-e2e-plain-")
	files := filepath.Join(t.TempDir(), "files")
	writeFiles(t, files, map[string]string{"a.txt": "alpha\n"})
	removeImage(t, cli, repo+":plain")
	r := imgbuild(t, env, "build", "-var", "repo="+repo, "-var", "tag=plain", "-var", "files="+files, template("cached.pkr.hcl"))
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	if strings.Contains(r.stdout, "from cache") || strings.Contains(r.stdout, "to cache") || strings.Contains(r.stdout, "checkpoint") {
		t.Errorf("a build without -cache mentions the cache:\n%s", r.stdout)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "entries", "*.json")); len(m) != 0 {
		t.Errorf("a build without -cache recorded checkpoints: %v", m)
	}
}

// TestFullyCachedExportHasTheColdExportsFiles proves that export_path works
// when every step is cached (the container is created from the checkpoint
// and exported without being started).
func TestFullyCachedExportHasTheColdExportsFiles(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	_, env := cacheDir(t, cli)
	dir := t.TempDir()
	export := func(name string, args ...string) string {
		t.Helper()
		tarball := filepath.Join(dir, name+".tar")
		args = append(append([]string{"build"}, args...), "-var", "tarball="+tarball, template("cachedexport.pkr.hcl"))
		r := imgbuild(t, env, args...)
		if r.code != 0 {
			t.Fatalf("export %s failed:\n%s", name, r)
		}
		noContainersLeft(t, cli, "cachedexport", r.stdout)
		return r.stdout
	}
	export("cold")
	export("cached-cold", "-cache")
	out := export("cached", "-cache")
	if strings.Contains(out, "STEP-RAN") || !strings.Contains(out, "restored from cache") {
		t.Errorf("the fully cached export ran its provisioner:\n%s", out)
	}
	cold := tarballFiles(t, filepath.Join(dir, "cold.tar"))
	if _, ok := cold["exported.txt"]; !ok {
		t.Fatalf("the cold export lacks the provisioned file: %v", cold)
	}
	for _, name := range []string{"cached-cold", "cached"} {
		if diffs := diffFiles(tarballFiles(t, filepath.Join(dir, name+".tar")), cold); len(diffs) > 0 {
			t.Errorf("export %s differs from the cold export:\n%s", name, strings.Join(diffs, "\n"))
		}
	}
}

// TestCacheKeysWhatVolumesMount changes a file in a mounted folder: the
// provisioner that read it runs again, and the image has the new content.
func TestCacheKeysWhatVolumesMount(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	_, env := cacheDir(t, cli)
	repo := enginetest.Unique("imgbuild-e2e-cachevol-")
	shared := filepath.Join(t.TempDir(), "shared")
	writeFiles(t, shared, map[string]string{"data": "first\n"})
	build := func(tag string) string {
		t.Helper()
		removeImage(t, cli, repo+":"+tag)
		r := imgbuild(t, env, "build", "-cache", "-var", "repo="+repo, "-var", "tag="+tag, "-var", "shared="+shared,
			template("cachedvolume.pkr.hcl"))
		if r.code != 0 {
			t.Fatalf("build %s failed:\n%s", tag, r)
		}
		noContainersLeft(t, cli, "cachedvol", r.stdout)
		return r.stdout
	}
	if out := build("cold"); !strings.Contains(out, "VOL-STEP-RAN") {
		t.Errorf("the cold build did not run the provisioner:\n%s", out)
	}
	if out := build("unchanged"); strings.Contains(out, "VOL-STEP-RAN") || !strings.Contains(out, "restored from cache") {
		t.Errorf("the rebuild with the volume unchanged ran the provisioner:\n%s", out)
	}
	writeFiles(t, shared, map[string]string{"data": "second\n"})
	if out := build("changed"); !strings.Contains(out, "VOL-STEP-RAN") {
		t.Errorf("the rebuild after the mounted file changed did not run the provisioner:\n%s", out)
	}
	got, want := imageFiles(t, cli, repo+":changed")["data"], imageFiles(t, cli, repo+":unchanged")["data"]
	if got == "" || got == want {
		t.Errorf("/data in the image is %q, the same as before the mounted file changed (%q)", got, want)
	}
}
