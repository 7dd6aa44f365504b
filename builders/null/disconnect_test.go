package null_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	b := newCLIBuild(t, disconnectTemplate)
	remote := b.remote
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	restarted := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(filepath.Join(remote, "restart-me")); err == nil {
				restarted <- b.sshd.Restart(time.Second)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		restarted <- ctx.Err()
	}()
	out := b.run(ctx, t)
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
