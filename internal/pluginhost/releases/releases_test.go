package releases

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/pluginhost/installed"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// githubStandIn serves a plugin's releases in GitHub's formats (the tag
// API, SHA256SUMS, zips): the only stand-in here, for github.com itself.
type githubStandIn struct {
	tags    []string
	zips    map[string][]byte // release version -> zip
	corrupt bool              // serve zips that do not match their sums
}

func (g *githubStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const repo = "/hashicorp/packer-plugin-docker"
	switch {
	case r.URL.Path == "/repos"+repo+"/git/matching-refs/tags":
		var refs []string
		for _, t := range g.tags {
			refs = append(refs, fmt.Sprintf(`{"ref":"refs/tags/%s"}`, t))
		}
		fmt.Fprintf(w, "[%s]", strings.Join(refs, ","))
	case strings.HasPrefix(r.URL.Path, repo+"/releases/download/v"):
		rest := strings.TrimPrefix(r.URL.Path, repo+"/releases/download/v")
		ver, file, _ := strings.Cut(rest, "/")
		z, ok := g.zips[ver]
		if !ok {
			http.NotFound(w, r)
			return
		}
		zipName := fmt.Sprintf("packer-plugin-docker_v%s_x5.0_%s_%s.zip", ver, runtime.GOOS, runtime.GOARCH)
		switch file {
		case "packer-plugin-docker_v" + ver + "_SHA256SUMS":
			sum := sha256.Sum256(z)
			fmt.Fprintf(w, "%s  packer-plugin-docker_v%s_x6.0_%s_%s.zip\n", strings.Repeat("1", 64), ver, runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(w, "%s  %s\n", hex.EncodeToString(sum[:]), zipName)
		case zipName:
			if g.corrupt {
				z = append([]byte{}, z...)
				z[len(z)/2] ^= 0xff
			}
			w.Write(z)
		default:
			http.NotFound(w, r)
		}
	default:
		http.NotFound(w, r)
	}
}

func releaseZip(t *testing.T, ver string) []byte {
	t.Helper()
	bin, err := os.ReadFile(testenv.PackerPlugin(t, "docker"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	name := fmt.Sprintf("packer-plugin-docker_v%s_x5.0_%s_%s", ver, runtime.GOOS, runtime.GOARCH)
	f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bin)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInstallTakesTheNewestReleaseMeetingTheConstraintAndVerifiesIt(t *testing.T) {
	gh := &githubStandIn{
		tags: []string{"v1.0.7", "v1.0.8", "v1.1.0-beta.1", "v2.0.0"},
		zips: map[string][]byte{"1.0.8": releaseZip(t, "1.0.8")},
	}
	srv := httptest.NewServer(gh)
	defer srv.Close()
	folder := t.TempDir()
	g := &Getter{API: srv.URL, Download: srv.URL}
	p, err := g.Install(context.Background(), folder, "github.com/hashicorp/docker", "< 2.0")
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "1.0.8" || !strings.Contains(filepath.Base(p.Path), "_v1.0.8_x5.0_") {
		t.Errorf("installed %+v", p)
	}
	plugins, warnings, err := installed.Discover(context.Background(), installed.Options{Env: []string{"HOME=" + t.TempDir(), "PACKER_PLUGIN_PATH=" + folder}})
	if err != nil || len(warnings) > 0 || len(plugins) != 1 || plugins[0].Path != p.Path {
		t.Fatalf("the installed release is not discovered: %v %q %+v", err, warnings, plugins)
	}

	gh.corrupt = true
	other := t.TempDir()
	_, err = g.Install(context.Background(), other, "github.com/hashicorp/docker", "1.0.8")
	if err == nil || !strings.Contains(err.Error(), "does not match its SHA256SUMS") {
		t.Fatalf("a corrupted zip was not refused: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(other, "*", "*", "*", "*")); len(left) > 0 {
		t.Errorf("a refused download left %v", left)
	}
}

func TestInstallSaysTheServerIsUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	g := &Getter{API: url, Download: url}
	_, err := g.Install(context.Background(), t.TempDir(), "github.com/hashicorp/docker", "")
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if _, err := g.Install(context.Background(), t.TempDir(), "example.com/me/thing", ""); err == nil || !strings.Contains(err.Error(), "--path") {
		t.Errorf("a non-GitHub source: %v", err)
	}
}
