package sshd

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/imgbuild/imgbuild/internal/filelock"
)

// EnsureUser creates the test user with its password when it is missing.
// Test packages run in parallel, so creation is serialised with an
// advisory lock on /etc/passwd (a file that always exists, so that no lock
// file is left behind; useradd's own locking is separate).
func EnsureUser() error {
	if userExists() {
		return nil
	}
	lock, err := os.Open("/etc/passwd")
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := filelock.Exclusive(lock); err != nil {
		return err
	}
	if userExists() {
		return nil
	}
	if out, err := exec.Command("useradd", "--create-home", "--shell", "/bin/sh", User).CombinedOutput(); err != nil {
		return fmt.Errorf("useradd %s: %v: %s", User, err, out)
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(User + ":" + Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chpasswd: %v: %s", err, out)
	}
	return nil
}

func userExists() bool {
	return exec.Command("id", "-u", User).Run() == nil
}
