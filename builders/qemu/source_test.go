package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestFetchSourceDownloadsVerifiesAndCaches(t *testing.T) {
	body := []byte("pretend this is an ISO\n")
	sum := sha256.Sum256(body)
	hexsum := hex.EncodeToString(sum[:])
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/img.iso":
			gets.Add(1)
			_, _ = w.Write(body)
		case "/SHA256SUMS":
			_, _ = w.Write([]byte("0000  other.iso\n" + hexsum + " *img.iso\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("PACKER_CACHE_DIR", t.TempDir())

	tests := []struct {
		name, url, checksum string
		wantErr             string
	}{
		{"sha256 prefix", srv.URL + "/img.iso", "sha256:" + hexsum, ""},
		{"bare checksum guessed by length", srv.URL + "/img.iso", hexsum, ""},
		{"checksum file over http", srv.URL + "/img.iso", "file:" + srv.URL + "/SHA256SUMS", ""},
		{"wrong checksum is refused", srv.URL + "/img.iso", "sha256:" + strings.Repeat("0", 64), "iso_checksum expects"},
		{"missing file is a clear error", srv.URL + "/nope.iso", "none", "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &state{cfg: &Config{ISOChecksum: tt.checksum}, ui: newTestUI(t)}
			p, err := fetchSource(context.Background(), st, tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if string(got) != string(body) {
				t.Fatalf("downloaded %q", got)
			}
		})
	}
	// The three good cases share a cache entry per iso_checksum; a second
	// fetch with the same checksum does not download again.
	before := gets.Load()
	st := &state{cfg: &Config{ISOChecksum: "sha256:" + hexsum}, ui: newTestUI(t)}
	if _, err := fetchSource(context.Background(), st, srv.URL+"/img.iso"); err != nil {
		t.Fatal(err)
	}
	if gets.Load() != before {
		t.Errorf("a cached, verified download was fetched again")
	}
}

func TestFetchSourceUsesLocalPathsInPlace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(p, []byte("disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("disk"))
	for _, u := range []string{p, "file://" + p} {
		st := &state{cfg: &Config{ISOChecksum: "sha256:" + hex.EncodeToString(sum[:])}, ui: newTestUI(t)}
		got, err := fetchSource(context.Background(), st, u)
		if err != nil || got != p {
			t.Errorf("fetchSource(%s) = %s, %v; want %s in place", u, got, err, p)
		}
	}
}
