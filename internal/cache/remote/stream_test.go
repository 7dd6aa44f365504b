package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// streamPorter installs a checkpoint that is one file by streaming it
// into place, as docker load reads an archive.
type streamPorter struct{ copyPorter }

func (streamPorter) InstallStream(_ context.Context, s *cache.Store, e, _ cache.Entry, open func(string) (io.ReadCloser, error)) (string, error) {
	r, err := open("data")
	if err != nil {
		return "", err
	}
	defer r.Close()
	p := s.DataPath(e.Key, ".data")
	w, err := os.Create(p)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return "", fmt.Errorf("loading: %w", err)
	}
	return p, nil
}

func init() { cache.RegisterPorter("test-stream", streamPorter{}) }

func TestAStreamerInstallsAsItDownloadsAndADamagedChunkFailsIt(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	keys := testKeys()[:1]
	data := make([]byte, 12<<20)
	rand.Read(data)
	a, _ := cache.Open(t.TempDir())
	p := a.DataPath(keys[0], ".data")
	os.WriteFile(p, data, 0o600)
	if err := a.Put(cache.Entry{Key: keys[0], Builder: "test-stream", Step: 1, Ref: p}); err != nil {
		t.Fatal(err)
	}
	layer := NewLayer(s, true, "test")
	layer.Push(ctx, a, keys, &recordUI{})

	b, _ := cache.Open(t.TempDir())
	u := &recordUI{}
	if n := layer.Pull(ctx, b, keys, 0, u); n != 1 {
		t.Fatalf("pull = %d:\n%s", n, u.text())
	}
	le, _, _ := b.Get(keys[0])
	if got, err := os.ReadFile(le.Ref); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the streamed install differs from the stored file (%v)", err)
	}
	if left, _ := filepath.Glob(filepath.Join(b.DataDir(), cache.WorkingPrefix+"*")); len(left) != 0 {
		t.Errorf("the streamed install wrote working files: %v", left)
	}

	e, _, _ := s.Get(ctx, keys[0])
	chunks := e.Files[0].Chunks
	if len(chunks) < 3 {
		t.Fatalf("%d chunks: this test needs several", len(chunks))
	}
	damaged := aws.String("ci/cache/" + blobName(chunks[len(chunks)/2].Digest))
	flipStoredByte(t, srv, damaged)
	c, _ := cache.Open(t.TempDir())
	u = &recordUI{}
	if n := layer.Pull(ctx, c, keys, 0, u); n != 0 || !strings.Contains(u.text(), "is damaged") {
		t.Fatalf("pull of a damaged chunk = %d:\n%s", n, u.text())
	}
	if left, _ := filepath.Glob(filepath.Join(c.DataDir(), "*")); len(left) != 0 {
		t.Errorf("the damaged streamed install left %v", left)
	}
	if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: damaged}); err == nil {
		t.Error("the damaged chunk is still stored")
	}
}
