package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestAnsibleConfiguresADebianQemuBuildWithAndWithoutItsProxy runs the
// ansible plugin's provisioner twice on a native qemu build of the Debian
// VM: through the plugin's SSH proxy over our SSH communicator
// (use_proxy = true), and with ansible connecting to the guest itself
// (use_proxy = false, with the key build.SSHPrivateKey carries). The
// effect is read from the output disk.
func TestAnsibleConfiguresADebianQemuBuildWithAndWithoutItsProxy(t *testing.T) {
	testenv.NeedCommand(t, "qemu-system-x86_64")
	debugfs := testenv.NeedCommand(t, "debugfs")
	vm := testenv.DebianVM(t)
	plugins := testenv.PluginDir(t, "ansible")
	out := filepath.Join(t.TempDir(), "out")
	dir := writeTemplate(t, fmt.Sprintf(`packer {
  required_plugins {
    ansible = {
      source  = "github.com/hashicorp/ansible"
      version = ">= 1.0.0"
    }
  }
}

source "qemu" "debian" {
  iso_url              = %[1]q
  iso_checksum         = "none"
  disk_image           = true
  format               = "qcow2"
  headless             = true
  memory               = 1024
  # TCG on purpose: a guest that hangs under a KVM the probe trusted must
  # not make this test about KVM.
  accelerator          = "tcg"
  output_directory     = %[2]q
  vm_name              = "debian.qcow2"
  ssh_username         = %[3]q
  ssh_private_key_file = %[4]q
  ssh_timeout          = "5m"
  shutdown_command     = "sudo poweroff"
  qemuargs = [["-kernel", %[5]q], ["-initrd", %[6]q], ["-append", %[7]q]]
}

build {
  sources = ["source.qemu.debian"]
  provisioner "ansible" {
    playbook_file   = "./play.yml"
    use_proxy       = true
    user            = %[3]q
    extra_arguments = ["-b", "-e", "marker=through-the-proxy", "-e", "target=/etc/by-proxy",
      "--scp-extra-args", "'-O'", "--ssh-extra-args", "-o HostKeyAlgorithms=+ssh-rsa -o PubkeyAcceptedAlgorithms=+ssh-rsa"]
  }
  provisioner "ansible" {
    playbook_file   = "./play.yml"
    use_proxy       = false
    user            = %[3]q
    extra_arguments = ["-b", "-e", "marker=direct", "-e", "target=/etc/direct"]
  }
}
`, vm.Disk, out, vm.User, vm.Key, vm.Kernel, vm.Initrd, vm.FastAppend))
	playbook := strings.ReplaceAll(markerPlaybook, "dest: /etc/configured-by", "dest: \"{{ target }}\"")
	if err := os.WriteFile(filepath.Join(dir, "play.yml"), []byte(playbook), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", testenv.Ansible(t)+string(os.PathListSeparator)+os.Getenv("PATH"))
	r := imgbuild(t, dir, plugins, "build", ".")
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	keyText, _ := os.ReadFile(vm.Key)
	if strings.Contains(r.stdout+r.stderr, strings.TrimSpace(string(keyText))) {
		t.Errorf("the private key is printed")
	}
	raw := filepath.Join(t.TempDir(), "disk.raw")
	if b, err := exec.Command("qemu-img", "convert", "-O", "raw", filepath.Join(out, "debian.qcow2"), raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, b)
	}
	for file, want := range map[string]string{"/etc/by-proxy": "through-the-proxy\n", "/etc/direct": "direct\n"} {
		got, err := exec.Command(debugfs, "-R", "cat "+file, raw).Output()
		if err != nil || string(got) != want {
			t.Errorf("%s in the output disk = %q (%v), want %q", file, got, err, want)
		}
	}
	if procs := pluginProcesses(t, plugins); len(procs) > 0 {
		t.Errorf("plugin processes left: %v", procs)
	}
}
