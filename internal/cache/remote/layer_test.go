package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// copyPorter shares a checkpoint that is one file in the data folder.
type copyPorter struct{}

func (copyPorter) Files(_ context.Context, _ *cache.Store, e cache.Entry) (map[string]string, func(), error) {
	return map[string]string{"data": e.Ref}, nil, nil
}

func (copyPorter) Install(_ context.Context, s *cache.Store, e, _ cache.Entry, files map[string]string) (string, error) {
	p := s.DataPath(e.Key, ".data")
	return p, os.Rename(files["data"], p)
}

func init() { cache.RegisterPorter("test-copy", copyPorter{}) }

// checkpoints records a checkpoint for each key, with content(i) as the
// content of the i-th.
func checkpoints(t *testing.T, s *cache.Store, keys []cache.Key, content func(i int) string) {
	t.Helper()
	for i, k := range keys {
		p := s.DataPath(k, ".data")
		if err := os.WriteFile(p, []byte(content(i)), 0o600); err != nil {
			t.Fatal(err)
		}
		e := cache.Entry{Key: k, Builder: "test-copy", Step: i + 1, Ref: p}
		if i > 0 {
			e.Parent = keys[i-1]
		}
		if err := s.Put(e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestADamagedSharedBlobIsRemovedWithItsEntryAndStoredAgainByTheNextPush(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	keys := testKeys()
	a, _ := cache.Open(t.TempDir())
	checkpoints(t, a, keys, func(int) string { return strings.Repeat("shared content ", 1000) }) // one blob
	layer := NewLayer(s, true, "test")
	u := &recordUI{}
	layer.Push(ctx, a, keys, u)
	if strings.Count(u.text(), ") shared in ") != 2 {
		t.Fatalf("push: %s", u.text())
	}
	e, _, _ := s.Get(ctx, keys[0])
	flipStoredByte(t, srv, aws.String("ci/cache/"+blobName(e.Files[0].Digest)))

	b, _ := cache.Open(t.TempDir())
	u = &recordUI{}
	if n := layer.Pull(ctx, b, keys, 0, u); n != 0 || !strings.Contains(u.text(), "is damaged") {
		t.Fatalf("pull of a damaged chain = %d:\n%s", n, u.text())
	}
	if left, _ := filepath.Glob(filepath.Join(b.DataDir(), "*")); len(left) != 0 {
		t.Errorf("the damaged download left %v", left)
	}
	// Both entries name the damaged blob (the pull tries the deepest
	// first, then the one before): both are gone, and runner A (or whoever
	// builds the steps again) stores them again, the blob uploaded anew,
	// not skipped as present.
	if strings.Count(u.text(), "is damaged") != 2 {
		t.Errorf("the pull did not report both checkpoints naming the damaged blob:\n%s", u.text())
	}
	u = &recordUI{}
	layer.Push(ctx, a, keys, u)
	if strings.Count(u.text(), ") shared in ") != 2 {
		t.Fatalf("push after the damage: %s", u.text())
	}
	c, _ := cache.Open(t.TempDir())
	u = &recordUI{}
	if n := layer.Pull(ctx, c, keys, 0, u); n != 2 || strings.Contains(u.text(), "Warning") {
		t.Fatalf("pull after the repair = %d:\n%s", n, u.text())
	}
}

// A checkpoint that holds the whole machine needs none before it: an
// empty runner downloads only the deepest stored one, and when that one
// is damaged, the one before it.
func TestAPullOfWholeMachineCheckpointsInstallsOnlyTheDeepest(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	keys := append(testKeys(), cache.Key(strings.Repeat("c", 64)))
	a, _ := cache.Open(t.TempDir())
	checkpoints(t, a, keys, func(i int) string { return strings.Repeat(string(rune('x'+i)), 5000) })
	layer := NewLayer(s, true, "test")
	layer.Push(ctx, a, keys, &recordUI{})

	b, _ := cache.Open(t.TempDir())
	u := &recordUI{}
	if n := layer.Pull(ctx, b, keys, 0, u); n != 3 {
		t.Fatalf("pull = %d, want 3:\n%s", n, u.text())
	}
	if strings.Count(u.text(), "Downloading checkpoint") != 1 || !strings.Contains(u.text(), "(provisioner 3, ") {
		t.Errorf("the pull did not download the deepest checkpoint alone:\n%s", u.text())
	}
	if n, last, err := b.LongestPrefix(keys); n != 3 || last.Key != keys[2] || err != nil {
		t.Errorf("the local prefix after the pull = %d %s %v, want 3 ending at the deepest", n, last.Key.Short(), err)
	}

	e, _, _ := s.Get(ctx, keys[2])
	flipStoredByte(t, srv, aws.String("ci/cache/"+blobName(e.Files[0].Digest)))
	c, _ := cache.Open(t.TempDir())
	u = &recordUI{}
	if n := layer.Pull(ctx, c, keys, 0, u); n != 2 {
		t.Fatalf("pull with the deepest damaged = %d, want 2:\n%s", n, u.text())
	}
	if strings.Count(u.text(), "is damaged") != 1 || strings.Count(u.text(), "Downloading checkpoint") != 2 {
		t.Errorf("the pull did not fall back from the damaged deepest checkpoint to the one before:\n%s", u.text())
	}
}

// An entry an imgbuild of format 1 wrote (each file one blob, named by
// the file's digest, no chunks) still installs, and its blob, damaged,
// is reported and removed like a chunk.
func TestAnEntryOfFormatOneStillInstallsAndItsDamagedBlobIsRemoved(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	content := make([]byte, 3<<20) // more than a chunk: a later writer would cut it
	rand.Read(content)
	digest := cache.Digest(content)
	blob := aws.String("ci/cache/" + blobName(digest))
	z := s.enc.EncodeAll(content, nil)
	if _, err := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: blob, Body: bytes.NewReader(z)}); err != nil {
		t.Fatal(err)
	}
	k := testKeys()[0]
	e := Entry{
		Entry:   cache.Entry{Key: k, Builder: "test-copy", Step: 1, Ref: "old-runner.data"},
		Files:   []File{{Role: "data", Digest: digest, Size: int64(len(content))}},
		Version: "format-1 imgbuild",
		Format:  1,
	}
	raw, _ := json.Marshal(e)
	if _, err := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: aws.String("ci/cache/" + entryName(k)), Body: bytes.NewReader(raw)}); err != nil {
		t.Fatal(err)
	}
	layer := NewLayer(s, true, "test")
	b, _ := cache.Open(t.TempDir())
	u := &recordUI{}
	if n := layer.Pull(ctx, b, []cache.Key{k}, 0, u); n != 1 {
		t.Fatalf("pull of a format-1 entry = %d:\n%s", n, u.text())
	}
	le, _, _ := b.Get(k)
	if got, err := os.ReadFile(le.Ref); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("the installed checkpoint differs from the stored file (%v)", err)
	}

	flipStoredByte(t, srv, blob)
	c, _ := cache.Open(t.TempDir())
	u = &recordUI{}
	if n := layer.Pull(ctx, c, []cache.Key{k}, 0, u); n != 0 || !strings.Contains(u.text(), "is damaged") {
		t.Fatalf("pull of a damaged format-1 blob = %d:\n%s", n, u.text())
	}
	if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: blob}); err == nil {
		t.Error("the damaged format-1 blob is still stored")
	}
}

// A damaged chunk of a multi-chunk file is the blob removed, not the
// file's (which names no blob): the next push stores that chunk again.
func TestADamagedChunkIsTheBlobRemoved(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	keys := testKeys()[:1]
	a, _ := cache.Open(t.TempDir())
	data := make([]byte, 12<<20)
	rand.Read(data)
	checkpoints(t, a, keys, func(int) string { return string(data) })
	layer := NewLayer(s, true, "test")
	layer.Push(ctx, a, keys, &recordUI{})
	e, _, _ := s.Get(ctx, keys[0])
	if len(e.Files) != 1 || len(e.Files[0].Chunks) < 3 {
		t.Fatalf("the entry's file has %+v", e.Files)
	}
	damaged := aws.String("ci/cache/" + blobName(e.Files[0].Chunks[1].Digest))
	flipStoredByte(t, srv, damaged)
	b, _ := cache.Open(t.TempDir())
	u := &recordUI{}
	if n := layer.Pull(ctx, b, keys, 0, u); n != 0 || !strings.Contains(u.text(), "is damaged") {
		t.Fatalf("pull of a damaged chunk = %d:\n%s", n, u.text())
	}
	if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: damaged}); err == nil {
		t.Fatal("the damaged chunk is still stored")
	}
	layer.Push(ctx, a, keys, &recordUI{})
	c, _ := cache.Open(t.TempDir())
	u = &recordUI{}
	if n := layer.Pull(ctx, c, keys, 0, u); n != 1 || strings.Contains(u.text(), "Warning") {
		t.Fatalf("pull after the repair = %d:\n%s", n, u.text())
	}
}
