package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

const markerPlaybook = `- hosts: all
  gather_facts: false
  tasks:
    - name: write a marker
      ansible.builtin.copy:
        dest: /etc/configured-by
        content: "{{ marker }}\n"
`

// TestAnsibleConfiguresADebianDockerBuild runs the ansible plugin's two
// provisioners on a native docker build of Debian: "ansible" from this
// machine (ansible-core from PyPI) through the plugin's SSH proxy over our
// docker communicator, and "ansible-local" inside the container.
func TestAnsibleConfiguresADebianDockerBuild(t *testing.T) {
	needDocker(t)
	image := testenv.DebianAnsibleImage(t)
	plugins := testenv.PluginDir(t, "ansible")
	repo := unique("imgbuild-plugin-e2e-ansible-")
	t.Cleanup(func() { exec.Command("docker", "rmi", repo+":t").Run() })
	dir := writeTemplate(t, `packer {
  required_plugins {
    ansible = {
      source  = "github.com/hashicorp/ansible"
      version = ">= 1.0.0"
    }
  }
}

source "docker" "debian" {
  image  = "`+image+`"
  commit = true
  pull   = false
}

build {
  sources = ["source.docker.debian"]
  provisioner "ansible" {
    playbook_file   = "./play.yml"
    user            = "root"
    extra_arguments = ["-e", "marker=from-ansible", "-e", "ansible_python_interpreter=/usr/bin/python3",
      "--scp-extra-args", "'-O'", "--ssh-extra-args", "-o HostKeyAlgorithms=+ssh-rsa -o PubkeyAcceptedAlgorithms=+ssh-rsa"]
  }
  provisioner "shell" {
    inline = ["cp /etc/configured-by /etc/first-pass"]
  }
  provisioner "ansible-local" {
    playbook_file   = "./play.yml"
    extra_arguments = ["-e", "marker=from-ansible-local"]
  }
  post-processor "docker-tag" {
    repository = "`+repo+`"
    tags       = ["t"]
  }
}
`)
	if err := os.WriteFile(filepath.Join(dir, "play.yml"), []byte(markerPlaybook), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", testenv.Ansible(t)+string(os.PathListSeparator)+os.Getenv("PATH"))
	r := imgbuild(t, dir, plugins, "build", ".")
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	if !strings.Contains(r.stdout, "docker.debian: Executing Ansible: ansible-playbook") {
		t.Errorf("the plugin's output is missing:\n%s", r.stdout)
	}
	got := docker(t, "run", "--rm", repo+":t", "cat", "/etc/first-pass", "/etc/configured-by")
	if want := "from-ansible\nfrom-ansible-local\n"; got != want {
		t.Errorf("files in the image = %q, want %q", got, want)
	}
	if procs := pluginProcesses(t, plugins); len(procs) > 0 {
		t.Errorf("plugin processes left: %v", procs)
	}
}
