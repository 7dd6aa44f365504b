package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
)

// finalTemplate has one cached step; its commit options (changes) come
// from a variable, which the cache key does not cover.
const finalTemplate = `
variable "repo" { type = string }
variable "tag"  { type = string }
variable "word" { type = string }
source "docker" "final" {
  image   = "imgbuild-base:latest"
  pull    = false
  commit  = true
  changes = ["CMD [\"echo\", \"${var.word}\"]"]
}
build {
  sources = ["source.docker.final"]
  provisioner "shell" {
    inline = ["echo final-step-ran | tr a-z A-Z", "echo content > /etc/final"]
  }
  post-processor "docker-tag" {
    repository = var.repo
    tags       = [var.tag]
  }
}
`

// An unchanged -cache rebuild takes the image an earlier build committed
// from the same checkpoint with the same options: no container is made,
// the artifact is that image. Other options, or the image removed, make a
// new commit; pruning the checkpoints removes what remembered the image.
func TestAnUnchangedRebuildTakesTheImageAnEarlierBuildCommitted(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	ctx := context.Background()
	dir, env := cacheDir(t, cli)
	repo := enginetest.Unique("imgbuild-e2e-final-")
	tpl := filepath.Join(t.TempDir(), "final.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(finalTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(tag, word string) (out, id string) {
		t.Helper()
		removeImage(t, cli, repo+":"+tag)
		r := imgbuild(t, env, "build", "-cache", "-var", "repo="+repo, "-var", "tag="+tag, "-var", "word="+word, tpl)
		if r.code != 0 {
			t.Fatalf("build %s failed:\n%s", tag, r)
		}
		noContainersLeft(t, cli, "final", r.stdout)
		info, err := cli.ImageInspect(ctx, repo+":"+tag)
		if err != nil {
			t.Fatalf("build %s: %v", tag, err)
		}
		return r.stdout, info.ID
	}
	committed := func(out string) bool { return strings.Contains(out, "Committing the container") }

	out, cold := build("cold", "one")
	if !committed(out) || !strings.Contains(out, "FINAL-STEP-RAN") {
		t.Fatalf("the cold build should run its step and commit:\n%s", out)
	}
	out, again := build("again", "one")
	if again != cold || committed(out) || strings.Contains(out, "Container ID") || !strings.Contains(out, reusedFinal) {
		t.Errorf("the unchanged rebuild should take image %s without a container; it made %s:\n%s", cold, again, out)
	}
	if got := dockerRun(t, repo+":again"); strings.TrimSpace(got) != "one" {
		t.Errorf("the reused image runs %q, want one", got)
	}

	// Other commit options: a new commit, with the new command.
	out, other := build("other", "two")
	if other == cold || !committed(out) || strings.Contains(out, "FINAL-STEP-RAN") {
		t.Errorf("changed changes: want a new commit (and no step run), got image %s:\n%s", other, out)
	}
	if got := dockerRun(t, repo+":other"); strings.TrimSpace(got) != "two" {
		t.Errorf("the image with the changed command runs %q, want two", got)
	}

	// The recorded image removed: committed again from the checkpoint.
	for _, tag := range []string{"cold", "again"} {
		if _, err := cli.ImageRemove(ctx, repo+":"+tag, image.RemoveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.ImageInspect(ctx, cold); err == nil {
		t.Fatalf("image %s is still there; the test proves nothing", cold)
	}
	out, fresh := build("fresh", "one")
	if fresh == cold || !committed(out) {
		t.Errorf("with the recorded image gone, want a new commit; got %s:\n%s", fresh, out)
	}
	sameFiles(t, cli, repo+":fresh", repo+":other")

	records := func() []string {
		names, _ := filepath.Glob(filepath.Join(dir, "data", "docker-final-*"))
		return names
	}
	if len(records()) == 0 {
		t.Fatal("no final-image record in the cache; the test proves nothing")
	}
	if r := imgbuild(t, env, "cache", "prune", "--all"); r.code != 0 {
		t.Fatalf("cache prune: %s", r)
	}
	if left := records(); len(left) > 0 {
		t.Errorf("pruning every checkpoint left final-image records: %v", left)
	}
}
