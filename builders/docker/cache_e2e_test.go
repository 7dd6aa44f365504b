package docker

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// Two caches on one engine under one shared cache make the same key: each
// checkpoint image has a name of its own, and removing one cache's entry
// removes its image and leaves the other's.
func TestTwoCachesCheckpointsOfOneKeyKeepNamesOfTheirOwn(t *testing.T) {
	cli := needEngine(t)
	ctx := context.Background()
	key := cache.Key(enginetest.Unique("") + "0123456789abcdef0123456789abcdef0123456789abcdef01234567")
	var ids []string
	for _, env := range []string{"RUNNER=a", "RUNNER=b"} {
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.BaseImage, Env: []string{env}}, nil, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		defer cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		st := &state{cli: cli, containerID: c.ID, env: &plugin.BuildEnv{RunUUID: "test-run"},
			base: baseImage{config: &container.Config{Env: []string{env}}}}
		id, _, err := checkpoint(ctx, st, string(key))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = cli.ImageRemove(context.Background(), checkpointName(key, id), image.RemoveOptions{})
			removeUnnamed(context.Background(), cli, id)
		})
		ids = append(ids, id)
	}
	if ids[0] == ids[1] {
		t.Fatal("the two checkpoints are one image")
	}
	for _, id := range ids {
		if info, err := cli.ImageInspect(ctx, id); err != nil || len(info.RepoTags) != 1 || info.RepoTags[0] != checkpointName(key, id) {
			t.Fatalf("checkpoint %s: want the one name %s, have %v (%v)", short(id), checkpointName(key, id), info.RepoTags, err)
		}
	}
	if err := removeCheckpoint(ctx, cache.Entry{Key: key, Ref: ids[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ImageInspect(ctx, ids[0]); err == nil {
		t.Error("the first cache's checkpoint image is left after its entry was removed")
	}
	if _, err := cli.ImageInspect(ctx, checkpointName(key, ids[1])); err != nil {
		t.Errorf("the other cache's checkpoint lost its image: %v", err)
	}
}

// Earlier versions named every checkpoint of a key CacheRepo:<key12>: the
// second cache's image took the name, and the first one's entry, when
// pruned, must still remove its own image, now unnamed, and leave the
// other's.
func TestRemovingALegacyCheckpointWhoseNameMovedRemovesItsUnnamedImage(t *testing.T) {
	cli := needEngine(t)
	ctx := context.Background()
	key := cache.Key(enginetest.Unique("") + "0123456789abcdef0123456789abcdef0123456789abcdef01234567")
	tag := legacyCheckpointName(key)
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
