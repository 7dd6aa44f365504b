package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestCtrlCDuringAnAnsibleRunStopsItAndCleansUp interrupts a build while
// the ansible plugin's playbook runs: imgbuild exits within 10 s, the
// build container is removed, and neither the plugin nor ansible-playbook
// is left running.
func TestCtrlCDuringAnAnsibleRunStopsItAndCleansUp(t *testing.T) {
	needDocker(t)
	image := testenv.DebianAnsibleImage(t)
	plugins := testenv.PluginDir(t, "ansible")
	dir := writeTemplate(t, `packer {
  required_plugins {
    ansible = {
      source  = "github.com/hashicorp/ansible"
      version = ">= 1.0.0"
    }
  }
}
source "docker" "debian" {
  image   = "`+image+`"
  discard = true
  pull    = false
}
build {
  sources = ["source.docker.debian"]
  provisioner "ansible" {
    playbook_file   = "./slow.yml"
    user            = "root"
    extra_arguments = ["-e", "ansible_python_interpreter=/usr/bin/python3",
      "--scp-extra-args", "'-O'", "--ssh-extra-args", "-o HostKeyAlgorithms=+ssh-rsa -o PubkeyAcceptedAlgorithms=+ssh-rsa"]
  }
}
`)
	playbook := "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: slow task\n      ansible.builtin.command: sleep 120\n"
	if err := os.WriteFile(filepath.Join(dir, "slow.yml"), []byte(playbook), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", testenv.Ansible(t)+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd, out := startBuild(t, dir, plugins, "TASK [slow task]")
	time.Sleep(time.Second) // the task is running in the container
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("imgbuild did not exit within 10 s of Ctrl-C:\n%s", out)
	}
	t.Logf("exited %s after Ctrl-C", time.Since(sent).Round(time.Millisecond))
	text := out.String()
	if !strings.Contains(text, "Removing the build container") {
		t.Errorf("the build container was not removed:\n%s", text)
	}
	if procs := pluginProcesses(t, plugins); len(procs) > 0 {
		t.Errorf("plugin processes left: %v", procs)
	}
	if ps, _ := exec.Command("pgrep", "-af", filepath.Join(dir, "slow.yml")).Output(); len(strings.TrimSpace(string(ps))) > 0 {
		t.Errorf("ansible-playbook is still running: %s", ps)
	}
}
