package e2e

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/cache/remote"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestSharedCacheLeavesOutTheLayersOfABaseImageACommitMade builds on a
// base image with a layer the engine made (a commit). The containerd
// image store keeps such a layer gzip-compressed, and docker save writes
// it under a digest that is no diff id of the base image: the checkpoints
// must leave it out all the same (every runner with their keys has it).
func TestSharedCacheLeavesOutTheLayersOfABaseImageACommitMade(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	srv := testenv.UseS3(t)
	base := committedBase(t, cli)
	repo := enginetest.Unique("imgbuild-e2e-share-base-")
	files := filepath.Join(t.TempDir(), "files")
	writeFiles(t, files, map[string]string{"a.txt": "alpha\n"})
	url := srv.URL("docker")
	_, env := cacheDir(t, cli)
	removeImage(t, cli, repo+":a")
	r := imgbuild(t, env, "build", "-cache-url", url, "-var", "repo="+repo, "-var", "tag=a",
		"-var", "files="+files, "-var", "base="+base, template("cached.pkr.hcl"))
	noContainersLeft(t, cli, "cached", r.stdout)
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	noBaseLayerShared(t, cli, url, base, 4)
}

// noBaseLayerShared fails the test unless the shared cache at url lists
// the number of checkpoints given, none of which stores a layer of the
// base image (as docker save writes it: what the shared cache would
// store).
func noBaseLayerShared(t *testing.T, cli *client.Client, url, base string, entries int) {
	t.Helper()
	baseLayers := savedLayerDigests(t, cli, base)
	shared, err := remote.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := shared.List(context.Background())
	if err != nil || len(listed) != entries {
		t.Fatalf("the shared cache lists %d entries (%v), want %d", len(listed), err, entries)
	}
	for _, e := range listed {
		for _, f := range e.Files {
			if baseLayers[f.Digest] {
				t.Errorf("checkpoint %s stores the base image's layer %s (%d bytes)", e.Key.Short(), f.Digest, f.Size)
			}
		}
	}
}

// committedBase makes a base image of the test's own: the test base
// image and a commit on it that adds a megabyte of random bytes (larger
// than any entry the shared cache keeps inline). It is removed when the
// test ends, after what was built on it.
func committedBase(t *testing.T, cli *client.Client) string {
	t.Helper()
	ctx := context.Background()
	ref := enginetest.Unique("imgbuild-e2e-base-") + ":1"
	enginetest.RemoveImage(t, cli, ref) // first registered: removed last
	c, err := cli.ContainerCreate(ctx, &container.Config{
		Image: testenv.BaseImage,
		Cmd:   []string{"sh", "-c", "dd if=/dev/urandom of=/base-data bs=64k count=16 2>/dev/null"},
	}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("creating the base's container: %v", err)
	}
	defer cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatalf("starting the base's container: %v", err)
	}
	waitC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		if w.StatusCode != 0 {
			t.Fatalf("the base's container exited %d", w.StatusCode)
		}
	case err := <-errC:
		t.Fatalf("waiting for the base's container: %v", err)
	}
	if _, err := cli.ContainerCommit(ctx, c.ID, container.CommitOptions{Reference: ref}); err != nil {
		t.Fatalf("committing the base: %v", err)
	}
	return ref
}
