package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// Two qemu sources of one invocation build at once, each from the same
// base disk into its own output: both succeed, each image holds what its
// own build wrote, and no QEMU is left.
func TestCLITwoQemuSourcesBuildAtOnceIntoTheirOwnImages(t *testing.T) {
	vm := needTestVM(t)
	bin := testenv.Binary(t)
	dir := t.TempDir()
	names := map[string]string{"a": uniqueName(t), "b": uniqueName(t)}
	for _, n := range names {
		t.Cleanup(func() { killQemu(n) })
	}
	tpl := cliSource(vm, "a", names["a"], filepath.Join(dir, "out-a")) +
		cliSource(vm, "b", names["b"], filepath.Join(dir, "out-b")) + `
build {
  sources = ["source.qemu.a", "source.qemu.b"]
  provisioner "shell" {
    inline = ["echo \"built by $PACKER_BUILD_NAME\" > /root/built-by.txt", "sync"]
  }
}
`
	path := filepath.Join(dir, "build.pkr.hcl")
	if err := os.WriteFile(path, []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "build", "-color=false", path)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imgbuild build: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Build 'qemu.a' finished") || !strings.Contains(string(out), "Build 'qemu.b' finished") {
		t.Errorf("want both builds to finish:\n%s", out)
	}
	for src, name := range names {
		image := filepath.Join(dir, "out-"+src, name)
		if got := readFromImage(t, image, "/root/built-by.txt"); got != "built by "+src+"\n" {
			t.Errorf("/root/built-by.txt in %s = %q, want its own build's name", image, got)
		}
		if qemuRunning(name) {
			t.Errorf("qemu %s still runs after the build", name)
		}
	}
}
