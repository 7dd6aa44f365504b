package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
)

// TestLegacyJSONTemplateBuildsAsPackerBuildsIt builds a legacy JSON
// template (user variables, a sensitive variable, only, a post-processor
// sequence) and runs the image.
func TestLegacyJSONTemplateBuildsAsPackerBuildsIt(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	repo := enginetest.Unique("imgbuild-e2e-legacy-")
	removeImage(t, cli, repo+":legacy")
	manifestPath := filepath.Join(t.TempDir(), "manifest.json")
	r := imgbuild(t, nil, "build", "-var", "repo="+repo, "-var", "manifest="+manifestPath, template("legacy.json"))
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	noContainersLeft(t, cli, "box", r.stdout)
	if got := dockerRun(t, repo+":legacy"); got != "hello from box (docker)\nHELLO\n" {
		t.Errorf("docker run = %q", got)
	}
	if strings.Contains(r.stdout+r.stderr, "legacy-token-5d2e") || !strings.Contains(r.stdout, "token <sensitive>") {
		t.Errorf("the sensitive variable is not masked:\n%s", r.stdout)
	}
	manifest, err := os.ReadFile(manifestPath)
	if err != nil || !strings.Contains(string(manifest), `"artifact_id": "`+repo+`:legacy"`) {
		t.Errorf("manifest (%v):\n%s", err, manifest)
	}
}

// TestUpgradedLegacyTemplateBuildsTheSameImage writes the legacy template
// as HCL2 with hcl2_upgrade and builds that: the image runs the same.
func TestUpgradedLegacyTemplateBuildsTheSameImage(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	repo := enginetest.Unique("imgbuild-e2e-upgraded-")
	removeImage(t, cli, repo+":legacy")
	dir := t.TempDir()
	src, err := os.ReadFile(template("legacy.json"))
	if err != nil {
		t.Fatal(err)
	}
	legacyPath := filepath.Join(dir, "legacy.json")
	if err := os.WriteFile(legacyPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	upgraded := filepath.Join(dir, "legacy.pkr.hcl")
	if r := imgbuild(t, nil, "hcl2_upgrade", "-with-annotations", "-output-file", upgraded, legacyPath); r.code != 0 {
		t.Fatalf("hcl2_upgrade:\n%s", r)
	}
	manifestPath := filepath.Join(dir, "manifest.json")
	r := imgbuild(t, nil, "build", "-var", "repo="+repo, "-var", "manifest="+manifestPath, upgraded)
	if r.code != 0 {
		text, _ := os.ReadFile(upgraded)
		t.Fatalf("build of the upgraded template failed:\n%s\n--- %s\n%s", r, upgraded, text)
	}
	noContainersLeft(t, cli, "box", r.stdout)
	if got := dockerRun(t, repo+":legacy"); got != "hello from box (docker)\nHELLO\n" {
		t.Errorf("docker run = %q", got)
	}
	if strings.Contains(r.stdout+r.stderr, "legacy-token-5d2e") {
		t.Errorf("the sensitive variable is not masked:\n%s", r.stdout)
	}
}
