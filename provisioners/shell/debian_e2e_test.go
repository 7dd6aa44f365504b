package shell

import (
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

// debianBuild writes a qemu template on the Debian VM (booted with
// appendLine) with the given top-level blocks (variables) and provisioners
// and runs imgbuild build on it, with env added to its environment. It
// returns the combined output, whether the build succeeded, and the output
// qcow2's path.
func debianBuild(t *testing.T, appendLine, topLevel, provisioners string, env ...string) (string, bool, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots the Debian VM under TCG")
	}
	testenv.NeedCommand(t, "qemu-system-x86_64")
	vm := testenv.DebianVM(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	tmpl := fmt.Sprintf(`%[9]s
source "qemu" "debian" {
  iso_url              = %[1]q
  iso_checksum         = "none"
  disk_image           = true
  format               = "qcow2"
  headless             = true
  memory               = 1024
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
%[8]s
}
`, vm.Disk, out, vm.User, vm.Key, vm.Kernel, vm.Initrd, appendLine, provisioners, topLevel)
	if err := os.WriteFile(filepath.Join(dir, "build.pkr.hcl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTree(t, filepath.Join(dir, "tree"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := testenv.Command(ctx, t, "build", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	t.Logf("imgbuild build:\n%s", b)
	return string(b), err == nil, filepath.Join(out, "debian.qcow2")
}

// writeTree makes the folder the file provisioner uploads: an executable,
// a private file, a subfolder and a symbolic link to the executable.
func writeTree(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"run.sh": 0o755, "private": 0o600, "sub/deep.txt": 0o644} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("content of "+name+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	if err := os.Symlink("run.sh", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
}

// diskReader reads files of the output qcow2 (an ext4 file system without
// a partition table) with debugfs, from a raw copy.
type diskReader struct {
	t       *testing.T
	debugfs string
	raw     string
}

func newDiskReader(t *testing.T, qcow2 string) diskReader {
	t.Helper()
	debugfs := testenv.NeedCommand(t, "debugfs")
	qemuImg := testenv.NeedCommand(t, "qemu-img")
	raw := filepath.Join(t.TempDir(), "disk.raw")
	if b, err := exec.Command(qemuImg, "convert", "-O", "raw", qcow2, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, b)
	}
	return diskReader{t, debugfs, raw}
}

// cat returns the file's contents, or "<missing>".
func (d diskReader) cat(path string) string {
	out, err := exec.Command(d.debugfs, "-R", "cat "+path, d.raw).Output()
	if err != nil || !d.exists(path) {
		return "<missing>"
	}
	return string(out)
}

func (d diskReader) exists(path string) bool {
	out, _ := exec.Command(d.debugfs, "-R", "stat "+path, d.raw).CombinedOutput()
	return strings.Contains(string(out), "Inode:")
}

// stat returns debugfs's "Type: ... Mode: ..." line of path.
func (d diskReader) stat(path string) string {
	out, _ := exec.Command(d.debugfs, "-R", "stat "+path, d.raw).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "Mode:") {
			return strings.Join(strings.Fields(line), " ")
		}
	}
	return "<missing>"
}

// One build on the Debian VM under systemd exercises, in order: sudo in
// execute_command with environment_vars (Packer's two well-known forms;
// as in Packer, the variables reach the script only through {{.Vars}}),
// env_var_format, skip_clean, two reboots with expect_disconnect (one
// whose script exits before the connection drops, one cut off while it
// runs), each followed by a provisioner once the guest is back, remote_folder on a noexec /tmp,
// and the file provisioner's folder upload. The output disk is read after.
func TestShellAndFileProvisionersOnTheDebianVMThroughARealReboot(t *testing.T) {
	vm := testenv.DebianVM(t)
	const value = `it's "quoted" with  spaces`
	provisioners := `
  provisioner "shell" {
    execute_command  = "echo 'debian' | {{.Vars}} sudo -S -E sh -eux '{{.Path}}'"
    environment_vars = ["GREETING=it's \"quoted\" with  spaces"]
    remote_folder    = "/var/tmp"
    remote_file      = "imgbuild-cleaned.sh"
    inline = [
      "id -u > /etc/imgbuild-uid-1",
      "printf '%s' \"$GREETING\" > /etc/imgbuild-greeting-1",
      "cat /proc/sys/kernel/random/boot_id > /etc/imgbuild-boot-before",
    ]
  }
  provisioner "shell" {
    execute_command  = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E -S sh '{{ .Path }}'"
    env_var_format   = "export %s='%s'; "
    environment_vars = ["GREETING=it's \"quoted\" with  spaces"]
    skip_clean       = true
    remote_folder    = "/var/tmp"
    remote_file      = "imgbuild-kept.sh"
    inline = [
      "id -u > /etc/imgbuild-uid-2",
      "printf '%s' \"$GREETING\" > /etc/imgbuild-greeting-2",
    ]
  }
  provisioner "shell" {
    expect_disconnect = true
    inline            = ["sudo systemctl reboot"]
  }
  provisioner "shell" {
    pause_before = "5s"
    inline = ["cat /proc/sys/kernel/random/boot_id | sudo tee /etc/imgbuild-boot-between"]
  }
  provisioner "shell" {
    # This time the connection drops while the script still runs.
    expect_disconnect = true
    inline            = ["sudo systemctl reboot", "sleep 300"]
  }
  provisioner "shell" {
    pause_before = "5s"
    inline = [
      "cat /proc/sys/kernel/random/boot_id | sudo tee /etc/imgbuild-boot-after",
      "sudo mount -t tmpfs -o noexec,mode=1777 tmpfs /tmp",
      "mkdir -p /home/debian/flat",
    ]
  }
  provisioner "shell" {
    remote_folder = "/var/tmp"
    inline        = ["echo ran from /var/tmp | sudo tee /etc/imgbuild-var-tmp"]
  }
  provisioner "file" {
    source      = "tree"
    destination = "/home/debian"
  }
  provisioner "file" {
    source      = "tree/"
    destination = "/home/debian/flat"
  }
`
	out, ok, image := debianBuild(t, vm.SystemdAppend, "", provisioners)
	if !ok {
		t.Fatalf("build failed")
	}
	if strings.Contains(out, "echo 'debian'") {
		t.Errorf("the sudo password's command line is in the output")
	}
	d := newDiskReader(t, image)
	for file, want := range map[string]string{
		"/etc/imgbuild-uid-1":      "0\n",
		"/etc/imgbuild-uid-2":      "0\n",
		"/etc/imgbuild-greeting-1": value,
		"/etc/imgbuild-greeting-2": value,
		"/etc/imgbuild-var-tmp":    "ran from /var/tmp\n",
	} {
		if got := d.cat(file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	before, between, after := d.cat("/etc/imgbuild-boot-before"), d.cat("/etc/imgbuild-boot-between"), d.cat("/etc/imgbuild-boot-after")
	if len(before) < 32 || len(between) < 32 || len(after) < 32 || before == between || between == after {
		t.Errorf("boot_id before, between and after the reboots: %q, %q, %q: want three different ids (real reboots)", before, between, after)
	}
	if !strings.Contains(out, "Remote end disconnected") {
		t.Errorf("the second reboot should cut the script off, and the output say so")
	}
	if !d.exists("/var/tmp/imgbuild-kept.sh") {
		t.Errorf("skip_clean = true: the script should stay in the guest")
	}
	if d.exists("/var/tmp/imgbuild-cleaned.sh") {
		t.Errorf("without skip_clean the script should be removed")
	}
	// Packer's rule: "tree" makes /home/debian/tree, "tree/" puts the
	// contents into the destination. Its SSH communicator follows
	// symbolic links: the link arrives as a copy of its target, with mode
	// 0644 (Packer's fallback for what is not a regular file).
	for _, root := range []string{"/home/debian/tree", "/home/debian/flat"} {
		for name, want := range map[string]string{
			"run.sh": "Mode: 0755", "private": "Mode: 0600", "sub/deep.txt": "Mode: 0644", "link": "Mode: 0644",
		} {
			p := root + "/" + name
			if got := d.stat(p); !strings.Contains(got, want) || !strings.Contains(got, "Type: regular") {
				t.Errorf("%s: %q, want a regular file with %s", p, got, want)
			}
		}
		if got := d.cat(root + "/link"); got != "content of run.sh\n" {
			t.Errorf("%s/link = %q, want the content of run.sh", root, got)
		}
	}
}

// The failures a real guest produces are explained, as Packer's are, and
// the sudo password in execute_command does not leak into the error.
func TestShellProvisionerFailuresOnTheDebianVMAreExplained(t *testing.T) {
	vm := testenv.DebianVM(t)
	for _, c := range []struct {
		name, variables, provisioners string
		env                           []string
		want                          []string
	}{{
		// The password as a sensitive variable, with the debug log on
		// (it logs the command): masked everywhere.
		name: "a reboot without expect_disconnect",
		variables: `
variable "sudo_password" {
  type      = string
  default   = "debian"
  sensitive = true
}`,
		provisioners: `
  provisioner "shell" {
    execute_command = "echo '${var.sudo_password}' | sudo -S sh '{{.Path}}'"
    inline          = ["sudo -n true", "reboot", "sleep 120"]
  }`,
		env:  []string{"PACKER_LOG=1"},
		want: []string{"expect_disconnect = true", "dropped", "shell provisioner command"},
	}, {
		name: "the password in execute_command itself",
		provisioners: `
  provisioner "shell" {
    execute_command = "echo 'debian' | sudo -S sh '{{.Path}}'"
    inline          = ["reboot", "sleep 120"]
  }`,
		want: []string{"expect_disconnect = true", "dropped"},
	}, {
		name: "a noexec /tmp with the default remote_folder",
		provisioners: `
  provisioner "shell" {
    inline = ["sudo mount -t tmpfs -o noexec,mode=1777 tmpfs /tmp"]
  }
  provisioner "shell" {
    inline = ["echo must not run"]
  }`,
		want: []string{"Permission denied", "non-zero exit status: 126", "set remote_folder"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			out, ok, _ := debianBuild(t, vm.FastAppend, c.variables, c.provisioners, c.env...)
			if ok {
				t.Fatalf("the build succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("the output does not say %q", w)
				}
			}
			if strings.Contains(out, "echo 'debian'") {
				t.Errorf("the sudo password's command line is in the output")
			}
			if strings.Contains(out, "must not run") && !strings.Contains(out, "echo must not run") {
				t.Errorf("the script ran from the noexec /tmp")
			}
		})
	}
}
