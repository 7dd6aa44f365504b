package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestVsphereCloneMakesATemplateThatTheSimulatorLists builds a VM
// template with the vsphere plugin's vsphere-clone builder against VMware's
// vCenter simulator, and records the plugin's artifact in our manifest.
func TestVsphereCloneMakesATemplateThatTheSimulatorLists(t *testing.T) {
	plugins := testenv.PluginDir(t, "vsphere")
	url := testenv.StartVCSim(t)
	server := regexp.MustCompile(`^https://[^@]*@([^/]+)/sdk$`).FindStringSubmatch(url)
	if server == nil {
		t.Fatalf("unexpected simulator URL %q", url)
	}
	dir := writeTemplate(t, `packer {
  required_plugins {
    vsphere = {
      source  = "github.com/hashicorp/vsphere"
      version = ">= 1.0.0"
    }
  }
}

variable "vcenter_password" {
  type      = string
  sensitive = true
}

source "vsphere-clone" "golden" {
  vcenter_server      = "`+server[1]+`"
  username            = "user"
  password            = var.vcenter_password
  insecure_connection = true
  datacenter          = "DC0"
  cluster             = "DC0_C0"
  host                = "DC0_C0_H0"
  datastore           = "LocalDS_0"
  template            = "DC0_H0_VM0"
  vm_name             = "imgbuild-golden"
  communicator        = "none"
  convert_to_template = true
}

build {
  sources = ["source.vsphere-clone.golden"]
  post-processor "manifest" {
    output = "manifest.json"
  }
}
`)
	r := imgbuild(t, dir, plugins, "build", "-var", "vcenter_password=pass", ".")
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	found := false
	for _, vm := range testenv.VCSimVMs(t, url) {
		if vm.Path == "/DC0/vm/imgbuild-golden" {
			found = true
			if !vm.Template {
				t.Errorf("%s is a VM, not a template", vm.Path)
			}
		}
	}
	if !found {
		t.Errorf("the simulator has no /DC0/vm/imgbuild-golden: %v", testenv.VCSimVMs(t, url))
	}
	var manifest struct {
		Builds []struct {
			Name        string `json:"name"`
			BuilderType string `json:"builder_type"`
			ArtifactID  string `json:"artifact_id"`
		} `json:"builds"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Builds) != 1 || manifest.Builds[0].BuilderType != "vsphere-clone" || manifest.Builds[0].ArtifactID != "imgbuild-golden" {
		t.Errorf("manifest = %s", raw)
	}
	if procs := pluginProcesses(t, plugins); len(procs) > 0 {
		t.Errorf("plugin processes left: %v", procs)
	}
}
