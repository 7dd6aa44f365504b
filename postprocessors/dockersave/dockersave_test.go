package dockersave

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestSavesTheImageAsADockerArchiveAndPassesItOn(t *testing.T) {
	enginetest.NeedEngine(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "saved.tar")
	p := &PostProcessor{config: Config{Path: path}}
	if _, err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	in := &dockerengine.ImageArtifact{BuilderIDValue: dockerengine.BuilderIDTag, Ref: testenv.BaseImage}
	out, keep, _, err := p.PostProcess(context.Background(), enginetest.Env(&enginetest.UI{T: t}), in)
	if err != nil {
		t.Fatal(err)
	}
	if out != in || !keep {
		t.Errorf("docker-save must pass its input on and keep it (got %v, keep %v)", out, keep)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found := false
	for tr := tar.NewReader(f); ; {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		found = found || hdr.Name == "manifest.json"
	}
	if !found {
		t.Error("the saved file has no manifest.json: not a docker save archive")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left beside the archive: %v", entries)
	}
}

func TestRefusesAnExportedTarball(t *testing.T) {
	p := &PostProcessor{config: Config{Path: "x.tar"}}
	_, _, _, err := p.PostProcess(context.Background(), enginetest.Env(&enginetest.UI{T: t}), &dockerengine.FileArtifact{Path: "a.tar"})
	if err == nil || !strings.Contains(err.Error(), "docker-save can only take") {
		t.Errorf("err = %v", err)
	}
}
