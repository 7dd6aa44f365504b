package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/docker/docker/api/types/image"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/cache/remote"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestADamagedChunkFailsTheStreamedLoadAndLeavesNoImage: a shared docker
// checkpoint streams into docker load as it downloads. A byte flipped in
// a chunk of its largest layer fails the load midway: the checkpoint is
// reported damaged and not used (the one before it is), its blob is
// removed, the engine holds no image of it, and the step runs again.
func TestADamagedChunkFailsTheStreamedLoadAndLeavesNoImage(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	srv := testenv.UseS3(t)
	ctx := context.Background()
	repo := enginetest.Unique("imgbuild-e2e-share-stream-")
	tpl := filepath.Join(t.TempDir(), "heavy.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(heavyTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	removeImage(t, cli, repo+":x")
	url := srv.URL("stream")

	dirA, envA := cacheDir(t, cli)
	if r := imgbuild(t, envA, "build", "-cache-url", url, "-var", "repo="+repo, tpl); r.code != 0 {
		t.Fatalf("runner A's build failed:\n%s", r)
	}
	// Runner A goes away with everything it made.
	storeA, err := cache.Open(dirA)
	if err != nil {
		t.Fatal(err)
	}
	entriesA, _ := storeA.List()
	if _, err := cli.ImageRemove(ctx, repo+":x", image.RemoveOptions{PruneChildren: true}); err != nil {
		t.Fatal(err)
	}
	if r := imgbuild(t, envA, "cache", "prune", "--all"); r.code != 0 {
		t.Fatalf("imgbuild cache prune --all:\n%s", r)
	}
	for _, e := range entriesA {
		if _, err := cli.ImageInspect(ctx, e.Ref); err == nil {
			t.Fatalf("checkpoint image %s of runner A is still in the engine", e.Ref)
		}
	}

	shared, err := remote.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := shared.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var deepest remote.Listed
	for _, e := range listed {
		if e.Step == 3 {
			deepest = e
		}
	}
	var largest remote.File
	for _, f := range deepest.Files {
		if len(f.Blobs()) > len(largest.Blobs()) || largest.Role == "" {
			largest = f
		}
	}
	if len(largest.Chunks) < 3 {
		t.Fatalf("the last checkpoint's largest file has %d chunks; this test needs several: %+v", len(largest.Chunks), deepest.Files)
	}
	damaged := largest.Chunks[len(largest.Chunks)/2].Digest
	key := aws.String("stream/blobs/sha256/" + strings.TrimPrefix(damaged, "sha256:") + ".zst")
	obj, err := srv.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.Bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if _, err := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: key, Body: bytes.NewReader(b)}); err != nil {
		t.Fatal(err)
	}

	_, envB := cacheDir(t, cli)
	removeImage(t, cli, repo+":x") // before runner B's cache is pruned (cleanups run last first)
	r := imgbuild(t, envB, "build", "-cache-url", url, "-var", "repo="+repo, tpl)
	if r.code != 0 {
		t.Fatalf("runner B's build failed:\n%s", r)
	}
	out := r.stdout + r.stderr
	if n := strings.Count(out, "is damaged and is not used"); n != 1 || !strings.Contains(out, strings.TrimPrefix(damaged, "sha256:")) {
		t.Errorf("%d warnings about a damaged checkpoint, want 1 naming chunk %s:\n%s", n, damaged, out)
	}
	if strings.Contains(out, "HEAVY-ONE-RAN") || strings.Contains(out, "HEAVY-TWO-RAN") || strings.Count(out, "HEAVY-THREE-RAN") != 1 {
		t.Errorf("runner B did not resume from the checkpoint before the damaged one:\n%s", out)
	}
	// The damaged load left no image: the checkpoint's image id (the
	// digest of its configuration) is not in the engine; runner B's own
	// step 3 is another image.
	if _, err := cli.ImageInspect(ctx, deepest.Ref); err == nil {
		t.Errorf("the damaged checkpoint's image %s is in the engine", deepest.Ref)
	}
	if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: key}); err == nil {
		// Stored again by runner B only if its step 3 had the same
		// content, which random bytes rule out.
		t.Error("the damaged chunk is still stored")
	}
}
