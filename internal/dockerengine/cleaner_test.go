package dockerengine

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/ledger"
)

// stalledEngine serves the Docker API on a unix socket: it answers the
// ping, so that the client connects, then never answers anything else,
// as an engine stuck on a lock does.
func stalledEngine(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Header().Set("API-Version", "1.43")
			io.WriteString(w, "OK")
			return
		}
		<-r.Context().Done()
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "unix://" + sock
}

// cleanup against an engine that stops answering ends, and says which
// engine it waited on (issue 14, 6), instead of hanging.
func TestCleanupOfAStalledEngineIsBoundedAndNamesTheEngine(t *testing.T) {
	host := stalledEngine(t)
	t.Setenv("DOCKER_HOST", host)
	old := engineQueryTimeout
	engineQueryTimeout = 500 * time.Millisecond
	t.Cleanup(func() { engineQueryTimeout = old })
	l, err := ledger.Open(filepath.Join(t.TempDir(), "resources.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	entries := []ledger.Entry{{Run: "r", Action: ledger.Created, Kind: KindContainer, ID: "imgbuild-stuck"}}
	began := time.Now()
	found, err := Cleaner.Find(context.Background(), ledger.Query{Ledger: l, Entries: entries, Notes: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "did not answer within") || !strings.Contains(err.Error(), host) {
		t.Fatalf("Find = %v, %v; want an error naming the engine %s that did not answer", found, err, host)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("cleanup waited %s on a stalled engine", took)
	}
}
