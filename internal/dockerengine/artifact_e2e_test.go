package dockerengine_test

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// A shared image (one a fully cached rebuild took from an earlier build)
// is not destroyed while a name refers to it: that name is the earlier
// build's artifact. Unnamed, it is removed like any other; an image that
// is not shared is removed by id even when one name refers to it (what
// Destroy does to a build's own image).
func TestDestroyLeavesASharedImageThatAnotherBuildNamed(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	ctx := context.Background()
	commit := func(name string) string {
		t.Helper()
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: testenv.BaseImage, Cmd: []string{"true"}}, nil, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		defer cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		resp, err := cli.ContainerCommit(ctx, c.ID, container.CommitOptions{Reference: name, Changes: []string{"LABEL imgbuild.test=" + enginetest.Unique("")}})
		if err != nil {
			t.Fatal(err)
		}
		enginetest.RemoveImage(t, cli, resp.ID)
		return resp.ID
	}
	exists := func(id string) bool {
		_, err := cli.ImageInspect(ctx, id)
		return err == nil
	}
	name := enginetest.Unique("imgbuild-test-shared-") + ":earlier"

	shared := commit(name)
	if err := (&dockerengine.ImageArtifact{Ref: shared, Shared: true}).Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if !exists(shared) {
		t.Fatalf("Destroy removed the shared image %s, which %s names", shared, name)
	}
	unnamed := commit("")
	if err := (&dockerengine.ImageArtifact{Ref: unnamed, Shared: true}).Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if exists(unnamed) {
		t.Errorf("Destroy left the shared image %s, which no name refers to", unnamed)
	}

	own := commit(enginetest.Unique("imgbuild-test-own-") + ":only")
	if err := (&dockerengine.ImageArtifact{Ref: own}).Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if exists(own) {
		t.Errorf("Destroy left the build's own image %s; the shared case above proves nothing", own)
	}
}
