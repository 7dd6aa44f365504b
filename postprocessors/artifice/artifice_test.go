package artifice

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/plugin/plugintest"
	"github.com/imgbuild/imgbuild/internal/ui"
)

// The artifact becomes the files the globs match now (a glob matching
// nothing adds nothing); the input is kept; Destroy removes the files.
func TestArtifactIsTheMatchedFilesAndTheInputIsKept(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"app.tar.gz", "app.sha256", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644)
	}
	p := &PostProcessor{}
	p.Config().(*Config).Files = []string{filepath.Join(dir, "app.*"), filepath.Join(dir, "none-*.bin")}
	if _, err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	env := &plugin.PostProcessEnv{UI: ui.New(ui.Options{Out: &out}).Build("docker.app")}
	in := &plugintest.Artifact{Name: "sha256:1", Paths: []string{"/builder/output.img"}}
	got, keep, forceKeep, err := p.PostProcess(context.Background(), env, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "app.sha256"), filepath.Join(dir, "app.tar.gz")}
	if files := got.Files(); !slices.Equal(files, want) || got.BuilderID() != BuilderID {
		t.Errorf("artifact %s files %v, want %s with %v", got.BuilderID(), files, BuilderID, want)
	}
	if !keep || forceKeep {
		t.Errorf("keep=%v forceKeep=%v, want the input kept as Packer does (not forced)", keep, forceKeep)
	}
	if !strings.Contains(out.String(), "Discarding files from artifact: /builder/output.img") {
		t.Errorf("output does not say which files leave the artifact:\n%s", out.String())
	}
	if err := got.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if !slices.Equal(left, []string{filepath.Join(dir, "notes.txt")}) {
		t.Errorf("after Destroy %v is left, want only notes.txt", left)
	}
}

func TestPrepareWantsFilesAndValidPatterns(t *testing.T) {
	p := &PostProcessor{}
	if _, err := p.Prepare(); err == nil || !strings.Contains(err.Error(), "files must list") {
		t.Errorf("no files: %v", err)
	}
	p.Config().(*Config).Files = []string{"out/[x.bin"}
	if _, err := p.Prepare(); err == nil || !strings.Contains(err.Error(), `"out/[x.bin" is not a valid pattern`) {
		t.Errorf("bad pattern: %v", err)
	}
}
