package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// debianResumeBuild builds the Debian bookworm VM (systemd, OpenSSH)
// as its default user, who reaches root through sudo, as with a cloud
// image. Each provisioner prints the boot id; the third also the clock
// and whether systemd still runs.
const debianResumeBuild = `
variable "out" { type = string }
variable "third" {
  type    = string
  default = "third v1"
}
build {
  sources = ["source.qemu.debian"]
  provisioner "shell" {
    inline = ["echo BOOT1=$(cat /proc/sys/kernel/random/boot_id)", "sudo mkdir -p /opt/app", "echo one | sudo tee /opt/app/one"]
  }
  provisioner "shell" {
    inline = ["echo BOOT2=$(cat /proc/sys/kernel/random/boot_id)", "echo two | sudo tee /opt/app/two"]
  }
  provisioner "shell" {
    inline = [
      "echo BOOT3=$(cat /proc/sys/kernel/random/boot_id) CLOCK3=$(date +%s) SYSTEMD3=$(systemctl is-system-running || true)",
      "echo '${var.third}' | sudo tee /opt/app/three",
    ]
  }
}
`

// The VM state resume on a guest with a real init system: a Debian
// bookworm VM under systemd. The rebuild after a change to the third
// provisioner does not boot (the boot id is the cold build's), systemd
// still runs, the clock is right (set through sudo), and the image has
// the new file beside the cached ones.
func TestQemuCacheResumesADebianSystemdVMFromItsSavedState(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a Debian VM")
	}
	vm := testenv.DebianVM(t)
	testenv.NeedCommand(t, "debugfs")
	bin := testenv.Binary(t)
	work := t.TempDir()
	name := uniqueName(t)
	tpl := filepath.Join(work, "debian.pkr.hcl")
	content := debianSource(t, vm, "debian", name, "var.out", vm.SystemdAppend) + debianResumeBuild
	if err := os.WriteFile(tpl, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cacheDir, err := os.MkdirTemp("", "imgbuild-e2e-vmdeb-")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
	t.Cleanup(func() {
		prune := exec.Command(bin, "cache", "prune", "--all")
		prune.Env = env
		if out, err := prune.CombinedOutput(); err != nil {
			t.Errorf("cache prune --all: %v\n%s", err, out)
		}
		os.RemoveAll(cacheDir)
	})
	build := func(out, third string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "build", "-cache", "-var", "out="+filepath.Join(work, out), "-var", "third="+third, tpl)
		cmd.Dir, cmd.Env = work, env
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("build %s failed: %v\n%s", out, err, buf.String())
		}
		t.Logf("build %s: %s", out, time.Since(start).Round(100*time.Millisecond))
		if qemuRunning(name) {
			t.Errorf("build %s left a qemu process running", out)
		}
		return buf.String()
	}
	cold := build("cold", "third v1")
	coldBoot := bootIDs(cold)
	if len(coldBoot) != 3 || coldBoot[2] != coldBoot[3] {
		t.Fatalf("the cold build's provisioners did not all run in one boot: %v\n%s", coldBoot, cold)
	}
	resumed := build("resumed", "third v2")
	if !strings.Contains(resumed, "Resumed the VM from the state saved") {
		t.Fatalf("the rebuild did not resume the VM:\n%s", resumed)
	}
	if m := regexp.MustCompile(`Resumed the VM .* in (\S+): no boot`).FindStringSubmatch(resumed); m != nil {
		t.Logf("restore took %s", m[1])
	}
	ids := bootIDs(resumed)
	if _, ran := ids[2]; ran || ids[3] != coldBoot[2] {
		t.Errorf("the guest booted again or ran more than the third provisioner (boot ids %v, cold %v):\n%s", ids, coldBoot, resumed)
	}
	if !regexp.MustCompile(`SYSTEMD3=(running|degraded)`).MatchString(resumed) {
		t.Errorf("systemd does not run in the resumed guest:\n%s", resumed)
	}
	m := regexp.MustCompile(`CLOCK3=(\d+)`).FindStringSubmatch(resumed)
	if m == nil {
		t.Fatalf("no clock printed:\n%s", resumed)
	}
	var guest int64
	fmt.Sscan(m[1], &guest)
	if d := abs64(guest - time.Now().Unix()); d > 120 {
		t.Errorf("the resumed guest's clock is off by %d s: it was not set through sudo", d)
	}
	image := filepath.Join(work, "resumed", name)
	for file, want := range map[string]string{"one": "one", "two": "two", "three": "third v2"} {
		if got := imageFile(t, image, "/opt/app/"+file); got != want {
			t.Errorf("/opt/app/%s in the image is %q, want %q", file, got, want)
		}
	}
}

// imageFile reads one file from an output image's ext4 file system.
func imageFile(t *testing.T, image, path string) string {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "disk.raw")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", image, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	defer os.Remove(raw)
	out, err := exec.Command("debugfs", "-R", "cat "+path, raw).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// debianSource is a qemu source, LABEL, that boots the Debian VM
// (testdata/make-debian.sh) with appendLine and logs in as its sudo user
// with its key; out is the output folder as an HCL expression.
func debianSource(t *testing.T, vm testenv.DebianVMFiles, label, vmName, out, appendLine string) string {
	t.Helper()
	sum, err := fileSHA256(vm.Disk)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`
source "qemu" %q {
  iso_url              = %q
  iso_checksum         = "sha256:%s"
  disk_image           = true
  headless             = true
  output_directory     = %s
  vm_name              = %q
  memory               = 1024
  cpus                 = 2
  ssh_username         = %q
  ssh_private_key_file = %q
  ssh_timeout          = "4m"
  shutdown_command     = "sudo poweroff"
  qemuargs = [["-kernel", %q], ["-initrd", %q], ["-append", %q]]
}
`, label, vm.Disk, sum, out, vmName, vm.User, vm.Key, vm.Kernel, vm.Initrd, appendLine)
}
