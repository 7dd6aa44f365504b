package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestAPluginDataSourceFeedsTheTemplate runs the amazon plugin's "ami"
// data source (forced external by a local name) against moto: console
// evaluates it (Configure, Execute), inspect and validate type it without
// running it (OutputSpec).
func TestAPluginDataSourceFeedsTheTemplate(t *testing.T) {
	testenv.UseMoto(t)
	plugins := testenv.PluginDir(t, "amazon")
	dir := writeTemplate(t, `packer {
  required_plugins {
    extamazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.0.0"
    }
  }
}

data "extamazon-ami" "ubuntu" {
  filters = {
    name                = "ubuntu/images/hvm-ssd/ubuntu-xenial*"
    root-device-type    = "ebs"
    virtualization-type = "hvm"
  }
  owners                     = ["099720109477"]
  most_recent                = true
  region                     = "us-east-1"
  access_key                 = "testing"
  secret_key                 = "testing"
  custom_endpoint_ec2        = "http://`+testenv.MotoAddr+`"
  skip_credential_validation = true
  skip_metadata_api_check    = true
}

locals {
  ami = data.extamazon-ami.ubuntu.id
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = ["echo ${local.ami}"]
  }
}
`)
	cmd := exec.Command(testenv.Binary(t), "console", ".")
	cmd.Dir = dir
	cmd.Env = pluginEnv(t, plugins)
	cmd.Stdin = strings.NewReader("local.ami\ndata.extamazon-ami.ubuntu.name\n")
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 2 || !strings.HasPrefix(lines[0], "ami-") || !strings.HasPrefix(lines[1], "ubuntu/images/hvm-ssd/ubuntu-xenial") {
		t.Fatalf("console: %v\n%s", err, out)
	}
	if r := imgbuild(t, dir, plugins, "inspect", "."); r.code != 0 || !strings.Contains(r.stdout, "local.ami: <unknown>") || !strings.Contains(r.stdout, "data.extamazon-ami.ubuntu") {
		t.Errorf("inspect:\n%s", r)
	}
	if r := imgbuild(t, dir, plugins, "validate", "."); r.code != 0 {
		t.Errorf("validate:\n%s", r)
	}
	if r := imgbuild(t, dir, plugins, "build", "."); r.code != 0 || !strings.Contains(r.stdout, lines[0]) {
		t.Errorf("the build did not use the data source's AMI %s:\n%s", lines[0], r)
	}
	if procs := pluginProcesses(t, plugins); len(procs) > 0 {
		t.Errorf("plugin processes left: %v", procs)
	}
}
