package null_test

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
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

const disconnectTemplate = `
variable "port" { type = number }
variable "key"  { type = string }
variable "dir"  { type = string }

source "null" "box" {
  ssh_host                = "127.0.0.1"
  ssh_port                = var.port
  ssh_username            = "imgbuildtest"
  ssh_private_key_file    = var.key
  ssh_keep_alive_interval = "1s"
}

build {
  sources = ["source.null.box"]
  provisioner "shell" {
    # The test restarts sshd when it sees this file, as a reboot would.
    inline            = ["touch ${var.dir}/restart-me", "sleep 60"]
    expect_disconnect = true
  }
  provisioner "shell" {
    inline = ["echo after the restart > ${var.dir}/after"]
  }
}
`

func TestNullBuildReconnectsAfterSSHDRestartsMidBuild(t *testing.T) {
	s := sshd.Start(t)
	bin := testenv.Binary(t)
	work := t.TempDir()
	tmpl := filepath.Join(work, "null.pkr.hcl")
	if err := os.WriteFile(tmpl, []byte(disconnectTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	remote, err := os.MkdirTemp("", "imgbuild-null-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(remote)
	if err := os.Chmod(remote, 0o777); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	restarted := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(filepath.Join(remote, "restart-me")); err == nil {
				restarted <- s.Restart(time.Second)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		restarted <- ctx.Err()
	}()
	cmd := exec.CommandContext(ctx, bin, "build",
		"-var", fmt.Sprintf("port=%d", s.Port), "-var", "key="+s.KeyFile, "-var", "dir="+remote, tmpl)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imgbuild build: %v\n%s", err, out)
	}
	if err := <-restarted; err != nil {
		t.Fatalf("restarting sshd: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(remote, "after"))
	if err != nil || string(got) != "after the restart\n" {
		t.Errorf("the provisioner after the restart did not run: %q, %v\n%s", got, err, out)
	}
	if !strings.Contains(string(out), "disconnected") {
		t.Errorf("output does not report the disconnect:\n%s", out)
	}
}
