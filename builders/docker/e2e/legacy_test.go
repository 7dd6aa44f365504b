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
