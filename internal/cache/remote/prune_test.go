package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestPruneByLastUseTakesTheChildrenOfWhatItRemovesAndAllLeavesNoCheckpoint(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	put := func(key, parent, content string) cache.Key {
		t.Helper()
		p := filepath.Join(dir, key)
		os.WriteFile(p, []byte(content), 0o600)
		f, err := s.PutFile(ctx, "layer", p)
		if err != nil {
			t.Fatal(err)
		}
		k := cache.Key(strings.Repeat(key, 64))
		e := Entry{Entry: cache.Entry{Key: k, Parent: cache.Key(strings.Repeat(parent, 64*len(parent)))}, Files: []File{f}, Version: "test"}
		if _, err := s.PutEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
		return k
	}
	k1 := put("1", "", "one")
	k2 := put("2", "1", "two")
	k3 := put("3", "", "three")
	// Object times have one-second resolution.
	time.Sleep(1100 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(1100 * time.Millisecond)
	for _, k := range []cache.Key{k2, k3} {
		if err := s.MarkUsed(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := s.Prune(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	got := map[cache.Key]bool{}
	for _, e := range removed {
		got[e.Key] = true
	}
	if len(got) != 2 || !got[k1] || !got[k2] {
		t.Errorf("prune removed %v; want k1 (unused) and k2 (used, but built on k1)", got)
	}
	left, err := s.List(ctx)
	if err != nil || len(left) != 1 || left[0].Key != k3 {
		t.Fatalf("left after prune: %+v, %v; want k3 only", left, err)
	}
	pruneAllLeavesNoCheckpoint(t, s, srv)
}

// pruneAllLeavesNoCheckpoint runs prune --all and fails the test for
// any entry, blob or use mark left.
func pruneAllLeavesNoCheckpoint(t *testing.T, s *Store, srv testenv.S3) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Prune(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	out, err := srv.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("ci/cache/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		if name := aws.ToString(o.Key); strings.Contains(name, "/entries/") || strings.Contains(name, "/blobs/") || strings.Contains(name, "/used/") {
			t.Errorf("%s is left after prune --all", name)
		}
	}
}

// A blob no entry names any longer, but which a runner just found stored
// and will name in the entry it writes next, survives a prune by age:
// finding it marked it reused, and the grace counts from then.
func TestAPruneByAgeKeepsABlobARunnerIsAboutToNameAgain(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	shortBlobGrace(t, 2*time.Second)
	p := filepath.Join(t.TempDir(), "layer")
	os.WriteFile(p, []byte("a layer two checkpoints share"), 0o600)
	f, err := s.PutFile(ctx, "layer", p)
	if err != nil {
		t.Fatal(err)
	}
	old := Entry{Entry: cache.Entry{Key: cache.Key(strings.Repeat("1", 64))}, Files: []File{f}}
	if _, err := s.PutEntry(ctx, old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the blob is past its grace
	// Another runner finds it stored.
	if _, err := s.PutFile(ctx, "layer", p); err != nil {
		t.Fatal(err)
	}
	blob := aws.String("ci/cache/" + blobName(f.Digest))
	if _, err := s.Prune(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: blob}); err != nil {
		t.Fatalf("the prune removed a blob a runner had just found stored: %v", err)
	}
	time.Sleep(3 * time.Second) // nobody named it: its grace ends
	if _, err := s.Prune(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: blob}); err == nil {
		t.Error("an unnamed blob past its grace is still stored")
	}
	out, _ := srv.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("ci/cache/reused/")})
	if len(out.Contents) != 0 {
		t.Errorf("%d reuse marks are left with their blob gone", len(out.Contents))
	}
}

// A prune keeps every chunk a kept entry names, even one a removed entry
// named too, and removes the chunks only removed entries named.
func TestAPruneKeepsTheChunksOfKeptEntriesAndRemovesOrphans(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	shortBlobGrace(t, time.Second)
	dir := t.TempDir()
	shared := make([]byte, 12<<20)
	rand.Read(shared)
	own := make([]byte, 12<<20)
	rand.Read(own)
	put := func(key string, content []byte) (cache.Key, File) {
		t.Helper()
		p := filepath.Join(dir, key)
		os.WriteFile(p, content, 0o600)
		f, err := s.PutFile(ctx, "layer", p)
		if err != nil {
			t.Fatal(err)
		}
		k := cache.Key(strings.Repeat(key, 64))
		if _, err := s.PutEntry(ctx, Entry{Entry: cache.Entry{Key: k}, Files: []File{f}, Version: "test"}); err != nil {
			t.Fatal(err)
		}
		return k, f
	}
	_, old := put("1", append(append([]byte(nil), shared...), own...))
	kept, keptFile := put("2", shared)
	time.Sleep(1100 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(1100 * time.Millisecond)
	if err := s.MarkUsed(ctx, kept); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, cutoff); err != nil {
		t.Fatal(err)
	}
	keep := map[string]bool{}
	for _, c := range keptFile.Blobs() {
		keep[c.Digest] = true
	}
	for _, c := range append(old.Blobs(), keptFile.Blobs()...) {
		_, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: aws.String("ci/cache/" + blobName(c.Digest))})
		if keep[c.Digest] && err != nil {
			t.Errorf("the prune removed chunk %s of the kept entry", c.Digest)
		}
		if !keep[c.Digest] && err == nil {
			t.Errorf("chunk %s, named by the removed entry only, is still stored", c.Digest)
		}
	}
	if n := countBlobs(t, srv); n != len(keep) {
		t.Errorf("%d blobs left; want the kept entry's %d", n, len(keep))
	}
	// What the prune removed, this store uploads again rather than
	// taking it for stored.
	p := filepath.Join(dir, "again")
	os.WriteFile(p, own, 0o600)
	f, err := s.PutFile(ctx, "layer", p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FetchFile(ctx, f, filepath.Join(dir, "back")); err != nil {
		t.Fatalf("content uploaded again after a prune does not download: %v", err)
	}
}

// An entry a later imgbuild wrote may name its blobs in a way this one
// cannot read: a prune by age keeps every blob and says why; prune --all
// removes that entry with the rest.
func TestAPruneByAgeKeepsTheBlobsOfEntriesALaterImgbuildWrote(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	shortBlobGrace(t, time.Second)
	p := filepath.Join(t.TempDir(), "layer")
	os.WriteFile(p, []byte("a layer a later imgbuild names its own way"), 0o600)
	f, err := s.PutFile(ctx, "layer", p)
	if err != nil {
		t.Fatal(err)
	}
	// The later entry, as far as this imgbuild can tell: it names no
	// file this one reads.
	k := cache.Key(strings.Repeat("9", 64))
	later := []byte(`{"key": "` + string(k) + `", "format": ` + fmt.Sprint(entryFormat+1) + `, "files_v9": [{"at": "` + f.Chunks[0].Digest + `"}]}`)
	if _, err := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: aws.String("ci/cache/" + entryName(k)), Body: bytes.NewReader(later)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the blob is past its grace
	blob := aws.String("ci/cache/" + blobName(f.Chunks[0].Digest))
	_, err = s.Prune(ctx, time.Now())
	if err == nil || !strings.Contains(err.Error(), "later imgbuild") {
		t.Errorf("a prune by age with a later entry gave %v, want an error saying it kept the blobs", err)
	}
	if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: blob}); err != nil {
		t.Fatalf("the prune removed a blob that a later entry may name: %v", err)
	}
	pruneAllLeavesNoCheckpoint(t, s, srv)
}

// shortBlobGrace sets blobGrace to d for the test.
func shortBlobGrace(t *testing.T, d time.Duration) {
	grace := blobGrace
	blobGrace = d
	t.Cleanup(func() { blobGrace = grace })
}
