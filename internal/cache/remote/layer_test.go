package remote

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

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

// checkpoints records two checkpoints with the same content (one blob).
func checkpoints(t *testing.T, s *cache.Store, keys []cache.Key) {
	t.Helper()
	for i, k := range keys {
		p := s.DataPath(k, ".data")
		if err := os.WriteFile(p, []byte(strings.Repeat("shared content ", 1000)), 0o600); err != nil {
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
	checkpoints(t, a, keys)
	layer := NewLayer(s, true, "test")
	u := &recordUI{}
	layer.Push(ctx, a, keys, u)
	if !strings.Contains(u.text(), "Shared 2 checkpoint(s)") {
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
	// Runner A (or whoever builds step 1 again) stores it again: the blob
	// is uploaded anew, not skipped as present.
	u = &recordUI{}
	layer.Push(ctx, a, keys, u)
	if !strings.Contains(u.text(), "Shared 1 checkpoint(s)") {
		t.Fatalf("push after the damage: %s", u.text())
	}
	c, _ := cache.Open(t.TempDir())
	u = &recordUI{}
	if n := layer.Pull(ctx, c, keys, 0, u); n != 2 || strings.Contains(u.text(), "Warning") {
		t.Fatalf("pull after the repair = %d:\n%s", n, u.text())
	}
}
