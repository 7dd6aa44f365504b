package qemu

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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

// guestRealismTemplate exercises, on the Debian VM under systemd, what
// real templates do with the shell and file provisioners: Packer's sudo
// execute_commands, env_var_format, skip_clean, remote_folder on a noexec
// /tmp, a reboot in the middle of the build (expect_disconnect), and a
// directory upload with modes and a symbolic link.
const guestRealismTemplate = `
variable "sudo_password" {
  type      = string
  sensitive = true
}
variable "files" { type = string }
source "qemu" "guest" {
  iso_url              = "%s"
  iso_checksum         = "sha256:%s"
  disk_image           = true
  headless             = true
  output_directory     = "%s"
  vm_name              = "%s"
  memory               = 1024
  cpus                 = 2
  ssh_username         = "debian"
  ssh_private_key_file = "%s"
  ssh_timeout          = "4m"
  shutdown_command     = "sudo poweroff"
  qemuargs = [["-kernel", "%s"], ["-initrd", "%s"], ["-append", "%s"]]
}
build {
  sources = ["source.qemu.guest"]

  # Packer's best-known form (its documentation's): the password piped to
  # sudo -S, the variables inside sh -c.
  provisioner "shell" {
    environment_vars = ["GREETING=hello-from-sudo"]
    execute_command  = "echo '${var.sudo_password}' | sudo -S sh -c '{{ .Vars }} {{ .Path }}'"
    inline = [
      "mkdir -p /root/realism",
      "id -u > /root/realism/uid",
      "printf '%%s' \"$GREETING\" > /root/realism/greeting",
    ]
  }
  # The other common form, {{ .Vars }} before sudo -E, and env_var_format;
  # values with quotes, spaces and a dollar survive.
  provisioner "shell" {
    environment_vars = ["SECOND=two  words", "THIRD=it's \"quoted\" $HOME"]
    env_var_format   = "export %%s='%%s'; "
    execute_command  = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E -S sh '{{ .Path }}'"
    inline           = ["printf '%%s|%%s' \"$SECOND\" \"$THIRD\" > /root/realism/second"]
  }

  # A reboot in the middle: the next provisioner runs once the guest is back.
  provisioner "shell" {
    expect_disconnect = true
    inline = [
      "sudo cp /proc/sys/kernel/random/boot_id /root/realism/boot-before",
      "echo before | sudo tee /root/realism/before",
      "sudo systemctl reboot",
    ]
  }
  provisioner "shell" {
    pause_before = "5s"
    inline = [
      "sudo cp /proc/sys/kernel/random/boot_id /root/realism/boot-after",
      "echo after | sudo tee /root/realism/after",
    ]
  }

  # skip_clean keeps the uploaded script; by default it is removed.
  provisioner "shell" {
    skip_clean  = true
    remote_path = "/tmp/kept-script.sh"
    inline      = ["true"]
  }
  provisioner "shell" {
    remote_path = "/tmp/cleaned-script.sh"
    inline      = ["true"]
  }
  provisioner "shell" {
    inline = [
      "test -e /tmp/kept-script.sh && echo KEPT=yes || echo KEPT=no",
      "test -e /tmp/cleaned-script.sh && echo CLEANED=no || echo CLEANED=yes",
      "sudo mount -t tmpfs -o noexec,mode=1777 tmpfs /tmp",
    ]
  }
  # /tmp is noexec now: a script there cannot run (126, which this step
  # accepts), one in remote_folder = /var/tmp can.
  provisioner "shell" {
    valid_exit_codes = [126]
    inline           = ["echo RAN-FROM-NOEXEC-TMP"]
  }
  provisioner "shell" {
    remote_folder = "/var/tmp"
    inline        = ["echo RAN-FROM-VAR-TMP"]
  }

  # A folder upload, with and without the trailing slash.
  provisioner "file" {
    source      = "${var.files}/tree/"
    destination = "/home/debian/contents"
  }
  provisioner "file" {
    source      = "${var.files}/tree"
    destination = "/home/debian/wrapped"
  }
  provisioner "shell" {
    remote_folder = "/var/tmp" # /tmp is still noexec
    inline        = ["cd /home/debian && find contents wrapped -exec stat -c 'ENTRY %%n %%a %%F' {} +"]
  }
}
`

// The shell and file provisioners on a real distribution's guest, as real
// templates use them (issue 15): see guestRealismTemplate. The image holds
// the files written before and after the reboot.
func TestShellAndFileProvisionersOnADebianGuestAsRealTemplatesUseThem(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a Debian VM")
	}
	vm := testenv.DebianVM(t)
	testenv.NeedCommand(t, "debugfs")
	bin := testenv.Binary(t)
	sum, err := fileSHA256(vm.Disk)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	files := filepath.Join(work, "files")
	tree := filepath.Join(files, "tree")
	for _, d := range []string{tree, filepath.Join(tree, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, mode := range map[string]os.FileMode{"run.sh": 0o755, "secret": 0o600, "sub/nested.txt": 0o640} {
		p := filepath.Join(tree, name)
		if err := os.WriteFile(p, []byte(name+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode) // whatever the umask
	}
	os.Chmod(filepath.Join(tree, "sub"), 0o750)
	if err := os.Symlink("run.sh", filepath.Join(tree, "link")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	password := "pw-" + hex.EncodeToString(b)
	name := uniqueName(t)
	out := filepath.Join(work, "out")
	tpl := filepath.Join(work, "guest.pkr.hcl")
	content := fmt.Sprintf(guestRealismTemplate, vm.Disk, sum, out, name, vm.Key, vm.Kernel, vm.Initrd, vm.SystemdAppend)
	if err := os.WriteFile(tpl, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "build", "-var", "sudo_password="+password, "-var", "files="+files, tpl)
	cmd.Dir = work
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		t.Fatalf("build: %v\n%s", err, buf.String())
	}
	log := buf.String()
	if qemuRunning(name) {
		t.Error("the build left its VM running")
	}
	if strings.Contains(log, password) {
		t.Errorf("the sudo password is in the build's output:\n%s", log)
	}
	for _, want := range []string{"KEPT=yes", "CLEANED=yes", "RAN-FROM-VAR-TMP"} {
		if !strings.Contains(log, want) {
			t.Errorf("the output lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, "RAN-FROM-NOEXEC-TMP") {
		t.Errorf("a script ran from the noexec /tmp:\n%s", log)
	}

	// The upload: Packer's trailing-slash rule, modes kept, and the link
	// followed (Packer uploads what a symbolic link points at).
	entries := map[string]string{}
	for _, m := range regexp.MustCompile(`ENTRY (\S+) (\d+) ([^\n]+)`).FindAllStringSubmatch(log, -1) {
		entries[m[1]] = m[2] + " " + strings.TrimSpace(m[3])
	}
	for path, want := range map[string]string{
		"contents/run.sh":             "755 regular file",
		"contents/secret":             "600 regular file",
		"contents/link":               "755 regular file",
		"contents/sub":                "750 directory",
		"contents/sub/nested.txt":     "640 regular file",
		"wrapped/tree/run.sh":         "755 regular file",
		"wrapped/tree/sub/nested.txt": "640 regular file",
	} {
		if got := entries[path]; got != want {
			t.Errorf("uploaded %s is %q, want %q (all: %v)", path, got, want, entries)
		}
	}

	// The image: the files of both halves of the reboot, and that it was one.
	image := filepath.Join(out, name)
	read := func(p string) string { return imageFile(t, image, "/root/realism/"+p) }
	if got := read("uid"); got != "0" {
		t.Errorf("the sudo -S -E script ran as uid %q", got)
	}
	if got, want := read("greeting"), "hello-from-sudo"; got != want {
		t.Errorf("GREETING arrived as %q, want %q", got, want)
	}
	if got, want := read("second"), `two  words|it's "quoted" $HOME`; got != want {
		t.Errorf("env_var_format values arrived as %q, want %q", got, want)
	}
	before, after := read("boot-before"), read("boot-after")
	if before == "" || after == "" || before == after {
		t.Errorf("no reboot between the halves: boot ids %q and %q", before, after)
	}
	if read("before") != "before" || read("after") != "after" {
		t.Error("the image lacks the files of both halves of the reboot")
	}
}

// A guest that goes away during a provisioner that did not expect it
// fails the build, and says what happened and what to set.
func TestAnUnexpectedDisconnectFailsTheBuildClearly(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a Debian VM")
	}
	vm := testenv.DebianVM(t)
	bin := testenv.Binary(t)
	sum, err := fileSHA256(vm.Disk)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	name := uniqueName(t)
	tpl := filepath.Join(work, "reboot.pkr.hcl")
	content := fmt.Sprintf(`
source "qemu" "guest" {
  iso_url              = "%s"
  iso_checksum         = "sha256:%s"
  disk_image           = true
  headless             = true
  output_directory     = "%s"
  vm_name              = "%s"
  memory               = 1024
  ssh_username         = "debian"
  ssh_private_key_file = "%s"
  ssh_timeout          = "4m"
  shutdown_command     = "sudo poweroff"
  qemuargs = [["-kernel", "%s"], ["-initrd", "%s"], ["-append", "%s"]]
}
build {
  sources = ["source.qemu.guest"]
  provisioner "shell" {
    inline = ["sudo systemctl reboot", "sleep 120"]
  }
}
`, vm.Disk, sum, filepath.Join(work, "out"), name, vm.Key, vm.Kernel, vm.Initrd, vm.SystemdAppend)
	if err := os.WriteFile(tpl, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "build", tpl)
	cmd.Dir = work
	outBytes, err := cmd.CombinedOutput()
	out := string(outBytes)
	if err == nil {
		t.Fatalf("a reboot without expect_disconnect did not fail the build:\n%s", out)
	}
	if !strings.Contains(out, "expect_disconnect") {
		t.Errorf("the error does not say to set expect_disconnect:\n%s", out)
	}
	if qemuRunning(name) {
		t.Error("the failed build left its VM running")
	}
}
