package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Ansible returns the bin folder of the venv in which scripts/test-setup.sh
// installed ansible-core from PyPI (ansible-playbook, ansible-galaxy, ...),
// or calls Unavailable. It is not on PATH by default: prepend it for the
// test, e.g. t.Setenv("PATH", bin+":"+os.Getenv("PATH")).
func Ansible(t testing.TB) (binDir string) {
	t.Helper()
	venv := filepath.Join(StateDir(), "ansible-venv")
	if _, err := os.Stat(filepath.Join(venv, "imgbuild-stamp")); err != nil {
		Unavailable(t, "ansible-core is not installed in "+venv+" (scripts/test-setup.sh installs it)")
	}
	return filepath.Join(venv, "bin")
}

// AnsibleCoreVersion returns the ansible-core version the set-up
// installed ("2.19.14"), or "" when it is not installed.
func AnsibleCoreVersion() string {
	b, err := os.ReadFile(filepath.Join(StateDir(), "ansible-venv", "imgbuild-stamp"))
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(b), " ")
	return strings.TrimPrefix(first, "ansible-core==")
}
