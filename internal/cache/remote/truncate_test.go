package remote

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// cuttingProxy forwards TCP connections to addr and ends each one after
// its first limit bytes from addr: a connection that drops mid-response.
func cuttingProxy(t *testing.T, addr string, limit int64) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.CopyN(c, up, limit)
			}()
		}
	}()
	return l.Addr().String()
}

// A download cut off by the network is an error of the connection, not
// damaged content: the blob stays stored and the checkpoint is not
// reported damaged (which would delete both).
func TestADownloadTheConnectionCutsShortIsNotTakenForDamage(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "layer")
	data := make([]byte, 3<<20)
	rand.Read(data)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := s.PutFile(ctx, "layer", p)
	if err != nil {
		t.Fatal(err)
	}

	endpoint, err := url.Parse(os.Getenv("AWS_ENDPOINT_URL_S3"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://"+cuttingProxy(t, endpoint.Host, 64<<10))
	cut, err := Open(ctx, srv.URL("ci/cache"))
	if err != nil {
		t.Fatal(err)
	}
	err = cut.FetchFile(ctx, f, filepath.Join(t.TempDir(), "back"))
	if err == nil {
		t.Fatal("a download through a connection that ends after 64 KiB succeeded")
	}
	if errors.Is(err, ErrCorrupt) {
		t.Errorf("a connection cut short was taken for damaged content: %v", err)
	}
	if err := s.FetchFile(ctx, f, filepath.Join(t.TempDir(), "again")); err != nil {
		t.Errorf("the file no longer downloads whole: %v", err)
	}
}
