package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Debian bookworm guests testdata/make-debian.sh makes (run by
// scripts/test-setup.sh), from one debootstrap minbase tree.
const (
	// DebianImageName: minbase, no Python; CMD ["/bin/bash"].
	DebianImageName = "local/debian:bookworm"
	// DebianAnsibleImageName: minbase plus python3 and Debian's ansible-core
	// (the ansible provisioner's target, and ansible-local inside a build).
	DebianAnsibleImageName = "local/debian-ansible:bookworm"
)

// DebianImage returns the Debian bookworm base image, or calls Unavailable.
// Its apt lists are cleaned: run apt-get update before installing.
func DebianImage(t testing.TB) string {
	t.Helper()
	needDockerImage(t, DebianImageName)
	return DebianImageName
}

// DebianAnsibleImage returns the Debian bookworm image with python3 and
// ansible-core, or calls Unavailable.
func DebianAnsibleImage(t testing.TB) string {
	t.Helper()
	needDockerImage(t, DebianAnsibleImageName)
	return DebianAnsibleImageName
}

func needDockerImage(t testing.TB, image string) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		Unavailable(t, "docker is not installed")
	}
	if out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", image).CombinedOutput(); err != nil {
		Unavailable(t, "docker image "+image+" is missing (testdata/make-debian.sh makes it): "+strings.TrimSpace(string(out)))
	}
}

// DebianVMFiles is the Debian bookworm VM: an ext4 disk booted by direct
// kernel boot (-kernel Kernel -initrd Initrd -append ...), with the guest's
// own cloud kernel and Debian initramfs. The guest takes 10.0.2.15/24 on
// QEMU's user network and runs sshd on port 22. Boot it with -snapshot or
// from a copy: the disk is shared.
type DebianVMFiles struct {
	Dir    string
	Disk   string // disk.qcow2, 4 GiB virtual
	Kernel string // vmlinuz
	Initrd string // initrd.img
	// Key is a private key accepted for root and for User.
	Key string
	// User has Password, sudo without a password, and the key.
	User, Password string
	// SystemdAppend boots the real system: systemd, networkd, OpenSSH.
	SystemdAppend string
	// FastAppend boots the same disk with a tiny init instead of systemd:
	// network and sshd only, for tests that need just Python over SSH
	// (about half the boot time under TCG). poweroff, reboot, halt and
	// shutdown work; systemctl and services do not.
	FastAppend string
}

// DebianVM returns the Debian bookworm VM's files, or calls Unavailable.
func DebianVM(t testing.TB) DebianVMFiles {
	t.Helper()
	dir := filepath.Join(StateDir(), "debian", "vm")
	if _, err := os.Stat(filepath.Join(dir, "stamp")); err != nil {
		Unavailable(t, "the Debian VM is not built in "+dir+" (testdata/make-debian.sh builds it)")
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			Unavailable(t, "the Debian VM in "+dir+" is incomplete: "+err.Error())
		}
		return strings.TrimSpace(string(b))
	}
	return DebianVMFiles{
		Dir:           dir,
		Disk:          filepath.Join(dir, "disk.qcow2"),
		Kernel:        filepath.Join(dir, "vmlinuz"),
		Initrd:        filepath.Join(dir, "initrd.img"),
		Key:           filepath.Join(dir, "id_ed25519"),
		User:          "debian",
		Password:      "debian",
		SystemdAppend: read("cmdline-systemd"),
		FastAppend:    read("cmdline-fast"),
	}
}
