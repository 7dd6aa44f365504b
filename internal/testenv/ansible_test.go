package testenv

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestAnsibleVenvRunsAnsiblePlaybookOfTheInstalledCoreVersion(t *testing.T) {
	bin := Ansible(t)
	out, err := exec.Command(filepath.Join(bin, "ansible-playbook"), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("ansible-playbook --version: %v\n%s", err, out)
	}
	want := "[core " + AnsibleCoreVersion() + "]"
	if first, _, _ := strings.Cut(string(out), "\n"); !strings.Contains(first, want) {
		t.Errorf("ansible-playbook --version says %q, want it to contain %q", first, want)
	}
}
