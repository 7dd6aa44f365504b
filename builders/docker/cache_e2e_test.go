package docker

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// Two caches on one engine under one shared cache make the same key: the
// second checkpoint image takes the tag imgbuild-cache:<key12>, and the
// first one's entry, when pruned, must still remove its own image, now
// unnamed, and leave the other's.
func TestRemovingACheckpointWhoseTagMovedRemovesItsUnnamedImage(t *testing.T) {
	cli := needEngine(t)
	ctx := context.Background()
	key := cache.Key(enginetest.Unique("") + "0123456789abcdef0123456789abcdef0123456789abcdef01234567")
	tag := CacheRepo + ":" + key.Short()
	commit := func(env string) string {
		t.Helper()
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.BaseImage, Env: []string{env}}, nil, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		defer cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		resp, err := cli.ContainerCommit(ctx, c.ID, container.CommitOptions{Reference: tag, Config: &container.Config{Env: []string{env}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeUnnamed(context.Background(), cli, resp.ID) })
		return resp.ID
	}
	first := commit("RUNNER=a")
	second := commit("RUNNER=b") // takes the tag
	if first == second {
		t.Fatal("the two checkpoints are one image")
	}
	defer removeImage(t, cli, tag)
	if err := removeCheckpoint(ctx, cache.Entry{Key: key, Ref: first}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ImageInspect(ctx, first); err == nil {
		t.Error("the first cache's checkpoint image is left, unnamed, after its entry was removed")
	}
	if info, err := cli.ImageInspect(ctx, tag); err != nil || info.ID != second {
		t.Errorf("the other cache's checkpoint %s lost its image: %v", tag, err)
	}
}
