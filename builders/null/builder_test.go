package null_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/builders/null"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

func newBuilder(t *testing.T, edit func(c *null.Config)) plugin.Builder {
	t.Helper()
	b, ok := plugin.NewBuilder("null")
	if !ok {
		t.Fatal(`builder "null" is not registered`)
	}
	edit(b.Config().(*null.Config))
	return b
}

func TestPrepareNeedsAHostAndOneWayToLogIn(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *null.Config)
		want string // "" means valid
	}{
		{"a host, a user and a password", func(c *null.Config) {
			c.SSHHost, c.SSHUsername, c.SSHPassword = "h", "u", "pw"
		}, ""},
		{"no host", func(c *null.Config) { c.SSHUsername, c.SSHPassword = "u", "pw" }, "ssh_host"},
		{"no way to log in", func(c *null.Config) { c.SSHHost, c.SSHUsername = "h", "u" }, "set one of ssh_password"},
		{"two ways to log in", func(c *null.Config) {
			c.SSHHost, c.SSHUsername, c.SSHPassword, c.SSHPrivateKeyFile = "h", "u", "pw", key
		}, "set only one"},
		{"no user", func(c *null.Config) { c.SSHHost, c.SSHPassword = "h", "pw" }, "ssh_username"},
		{"communicator none needs nothing", func(c *null.Config) { c.Type = "none" }, ""},
		{"winrm is refused", func(c *null.Config) { c.Type = "winrm" }, "winrm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newBuilder(t, tc.edit).Prepare()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Prepare: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Prepare error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRunHandsTheProvisionersAConnectedCommunicator(t *testing.T) {
	s := sshd.Start(t)
	b := newBuilder(t, func(c *null.Config) {
		c.SSHHost, c.SSHPort, c.SSHUsername, c.SSHPrivateKeyFile = s.Host, s.Port, sshd.User, s.KeyFile
	})
	if _, err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	var whoami bytes.Buffer
	var gotData plugin.GeneratedData
	art, err := b.Run(context.Background(), &plugin.BuildEnv{
		RunUUID: "run-1",
		Provision: func(ctx context.Context, comm communicator.Communicator, data plugin.GeneratedData) error {
			gotData = data
			status, err := comm.Run(ctx, &communicator.Cmd{Command: "id -un", Stdout: &whoami})
			if err != nil || status != 0 {
				return fmt.Errorf("id -un: %d, %v", status, err)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if whoami.String() != sshd.User+"\n" {
		t.Errorf("provisioner ran as %q", whoami.String())
	}
	for k, want := range map[string]string{"Host": s.Host, "User": sshd.User, "ConnType": "ssh", "ID": "Null", "PackerRunUUID": "run-1"} {
		if gotData[k] != want {
			t.Errorf("build.%s = %q, want %q", k, gotData[k], want)
		}
	}
	if !strings.HasPrefix(gotData["SSHPublicKey"], "ssh-ed25519 ") {
		t.Errorf("build.SSHPublicKey = %q", gotData["SSHPublicKey"])
	}
	if art.BuilderID() != "fnoeding.null" || art.ID() != "Null" || len(art.Files()) != 0 {
		t.Errorf("artifact %q %q %v", art.BuilderID(), art.ID(), art.Files())
	}
}

func TestRunFailsWithTheProvisionersError(t *testing.T) {
	s := sshd.Start(t)
	b := newBuilder(t, func(c *null.Config) {
		c.SSHHost, c.SSHPort, c.SSHUsername, c.SSHPassword = s.Host, s.Port, sshd.User, sshd.Password
	})
	if _, err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	_, err := b.Run(context.Background(), &plugin.BuildEnv{
		Provision: func(context.Context, communicator.Communicator, plugin.GeneratedData) error {
			return fmt.Errorf("script failed")
		},
	})
	if err == nil || !strings.Contains(err.Error(), "script failed") {
		t.Errorf("Run error %v, want the provisioner's", err)
	}
}

const cliTemplate = `
variable "port" { type = number }
variable "key"  { type = string }
variable "dir"  { type = string }

source "null" "box" {
  ssh_host                 = "127.0.0.1"
  ssh_port                 = var.port
  ssh_username             = "imgbuildtest"
  ssh_private_key_file     = var.key
  ssh_file_transfer_method = "sftp"
}

build {
  sources = ["source.null.box"]
  provisioner "shell" {
    inline = ["echo provisioned by $(id -un) > ${var.dir}/marker"]
  }
  provisioner "file" {
    content     = "uploaded\n"
    destination = "${var.dir}/uploaded"
  }
  provisioner "file" {
    direction   = "download"
    source      = "${var.dir}/marker"
    destination = "marker.txt"
  }
}
`

func TestNullBuildProvisionsAnExistingHostThroughTheCLI(t *testing.T) {
	b := newCLIBuild(t, cliTemplate)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := b.run(ctx, t)
	remote, work := b.remote, b.work
	t.Logf("imgbuild build:\n%s", out)
	for file, want := range map[string]string{
		filepath.Join(remote, "marker"):   "provisioned by " + sshd.User + "\n",
		filepath.Join(remote, "uploaded"): "uploaded\n",
		filepath.Join(work, "marker.txt"): "provisioned by " + sshd.User + "\n",
	} {
		got, err := os.ReadFile(file)
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q\noutput:\n%s", file, got, err, want, out)
		}
	}
}
