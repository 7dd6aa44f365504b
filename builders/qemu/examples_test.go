package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

var builtLine = regexp.MustCompile(`^built on \S+ by [0-9a-f-]{36}\n$`)

// TestQemuJSONExampleAndItsUpgradeBuildTheProvisionedDisk builds
// examples/qemu.json, the legacy twin of qemu.pkr.hcl, and what
// hcl2_upgrade makes of it: both disks hold what the provisioners wrote.
func TestQemuJSONExampleAndItsUpgradeBuildTheProvisionedDisk(t *testing.T) {
	vm := needTestVM(t)
	debugfs := testenv.NeedCommand(t, "debugfs")
	bin := testenv.Binary(t)
	work := t.TempDir()
	example := filepath.Join(testenv.RepoRoot(), "examples", "qemu.json")
	upgraded := filepath.Join(work, "qemu.pkr.hcl")
	if out, err := exec.Command(bin, "hcl2_upgrade", "-output-file", upgraded, example).CombinedOutput(); err != nil {
		t.Fatalf("hcl2_upgrade: %v\n%s", err, out)
	}
	for name, tmpl := range map[string]string{"json": example, "upgraded": upgraded} {
		out := filepath.Join(work, "out-"+name)
		cmd := exec.Command(bin, "build", "-var", "vm_dir="+vm.dir, "-var", "output_directory="+out, tmpl)
		cmd.Dir = work
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s build: %v\n%s", name, err, b)
		}
		raw := filepath.Join(work, name+".raw")
		if b, err := exec.Command("qemu-img", "convert", "-O", "raw", filepath.Join(out, "testvm.qcow2"), raw).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img convert: %v\n%s", err, b)
		}
		hello, _ := exec.Command(debugfs, "-R", "cat /root/hello.txt", raw).Output()
		built, _ := exec.Command(debugfs, "-R", "cat /root/built.txt", raw).Output()
		// {{build `PackerRunUUID`}} became the run's UUID.
		if string(hello) != "provisioned by imgbuild\n" || !builtLine.Match(built) {
			t.Errorf("%s disk: hello.txt %q, built.txt %q", name, hello, built)
		}
		os.Remove(raw)
	}
}
