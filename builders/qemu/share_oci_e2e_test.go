package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// A registry (-cache-url oci://) holds only checkpoints that are images:
// a qemu build says once that its checkpoints stay local, stores nothing
// there, and goes on; its rebuild uses the local checkpoints.
func TestQemuCheckpointsStayLocalWithAnOCICache(t *testing.T) {
	reg := testenv.UseRegistry(t)
	bin := testenv.Binary(t)
	work := t.TempDir()
	vm := privateTestVM(t, work)
	name := uniqueName(t)
	tpl := filepath.Join(work, "cached.pkr.hcl")
	content := fmt.Sprintf(cacheTemplate, vm.disk, vm.diskSHA256, name, vm.password, vm.kernel, vm.initrd)
	if err := os.WriteFile(tpl, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	files := filepath.Join(work, "files")
	os.Mkdir(files, 0o755)
	os.WriteFile(filepath.Join(files, "a.txt"), []byte("alpha\n"), 0o644)
	cacheDir := cacheForTest(t, bin, "oci")

	build := func(out string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "build", "-cache-url", reg.URL(),
			"-var", "out="+filepath.Join(work, "out-"+out), "-var", "files="+files, tpl)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		if qemuRunning(name) {
			t.Errorf("build %s left a qemu process running", out)
		}
		if err != nil {
			t.Fatalf("build %s failed: %v\n%s", out, err, buf.String())
		}
		return buf.String()
	}

	out := build("cold")
	qemuRan(t, "cold build", out, 1, 2, 3, 4)
	if n := strings.Count(out, "checkpoints stay in the local cache"); n != 1 {
		t.Errorf("said %d times that the qemu checkpoints stay local, want once:\n%s", n, out)
	}
	if strings.Contains(out, "Warning") || strings.Contains(out, "Shared ") {
		t.Errorf("the build warned or claims to have shared checkpoints:\n%s", out)
	}
	if tags, err := reg.Tags(); err != nil || len(tags) != 1 || tags[0] != "imgbuild-salt" {
		t.Errorf("the registry holds %v (%v), want only the salt", tags, err)
	}

	out = build("again")
	qemuRan(t, "rebuild on the same runner", out)
	if strings.Count(out, "restored from cache") != 4 {
		t.Errorf("the rebuild did not restore the 4 local checkpoints:\n%s", out)
	}
}
