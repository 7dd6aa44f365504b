package cli

import (
	"strings"
	"testing"
)

func TestBuildRefusesToShareVMStatesWithoutASharedCache(t *testing.T) {
	t.Setenv("IMGBUILD_CACHE_URL", "")
	t.Setenv("IMGBUILD_CACHE_DIR", t.TempDir())
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": goodTemplate})
	code, out, errOut := run(t, "", "build", "-cache", "-cache-share-vm-states", "-var", "image=x", dir)
	if code != 1 || !strings.Contains(errOut, "-cache-share-vm-states") || !strings.Contains(errOut, "-cache-url") {
		t.Fatalf("exit %d, stderr %q: want exit 1 and an error naming -cache-url", code, errOut)
	}
	if strings.Contains(out, "finished") {
		t.Errorf("the build ran:\n%s", out)
	}
}
