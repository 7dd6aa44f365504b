package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestAPluginThatDiesFailsOnlyItsOwnBuild kills the docker plugin's
// process in the middle of its build: that build fails saying the plugin
// exited, the native build running alongside finishes, and imgbuild exits
// 1 with no plugin process left.
func TestAPluginThatDiesFailsOnlyItsOwnBuild(t *testing.T) {
	needDocker(t)
	plugins := testenv.PluginDir(t, "docker")
	base := uniqueBase(t)
	dir := writeTemplate(t, fmt.Sprintf(`packer {
  required_plugins {
    extdocker = {
      source  = "github.com/hashicorp/docker"
      version = ">= 1.0.0"
    }
  }
}

source "extdocker" "doomed" {
  image   = %q
  discard = true
  pull    = false
}

source "null" "fine" {
  communicator = "none"
}

build {
  sources = ["source.extdocker.doomed", "source.null.fine"]
  provisioner "shell" {
    only   = ["extdocker.doomed"]
    inline = ["echo doomed started", "sleep 60"]
  }
  provisioner "shell-local" {
    only   = ["null.fine"]
    inline = ["while [ ! -e %s/go ]; do sleep 0.1; done", "echo fine finished"]
  }
}
`, base, "."))
	cmd, out := startBuild(t, dir, plugins, "doomed started")
	defer func() {
		for _, id := range strings.Fields(docker(t, "ps", "-aq", "--filter", "ancestor="+base)) {
			exec.Command("docker", "rm", "-f", id).Run() // the dead plugin could not remove it
		}
	}()
	procs := pluginProcesses(t, plugins)
	if len(procs) == 0 {
		t.Fatalf("no plugin process to kill:\n%s", out)
	}
	for _, p := range procs {
		var pid int
		fmt.Sscanf(p, "%d", &pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// Let the native build finish only now, while the plugin build fails.
	if err := exec.Command("touch", dir+"/go").Run(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("imgbuild did not end after its plugin died:\n%s", out)
	}
	text := out.String()
	if cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit %d, want 1:\n%s", cmd.ProcessState.ExitCode(), text)
	}
	if !strings.Contains(text, "Build 'extdocker.doomed' errored") || !strings.Contains(text, "exited unexpectedly") {
		t.Errorf("the plugin build's failure does not say the plugin died:\n%s", text)
	}
	if !strings.Contains(text, "fine finished") || !strings.Contains(text, "Build 'null.fine' finished") {
		t.Errorf("the native build did not finish:\n%s", text)
	}
	if procs := pluginProcesses(t, plugins); len(procs) > 0 {
		t.Errorf("plugin processes left: %v", procs)
	}
}
