package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// TestVsphereTemplatePostProcessorTakesThePluginBuildersArtifact chains
// the plugin's vsphere-template post-processor after a vsphere-clone
// build: the artifact crosses from one plugin process to another through
// imgbuild, and the post-processor runs to its end against the simulator
// (which keeps the machine listed as a VM: it does not model
// re-registration as a template).
func TestVsphereTemplatePostProcessorTakesThePluginBuildersArtifact(t *testing.T) {
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

source "vsphere-clone" "golden" {
  vcenter_server      = "`+server[1]+`"
  username            = "user"
  password            = "pass"
  insecure_connection = true
  datacenter          = "DC0"
  cluster             = "DC0_C0"
  host                = "DC0_C0_H0"
  datastore           = "LocalDS_0"
  template            = "DC0_H0_VM0"
  vm_name             = "imgbuild-pp-golden"
  communicator        = "none"
}

build {
  sources = ["source.vsphere-clone.golden"]
  post-processor "vsphere-template" {
    host       = "`+server[1]+`"
    insecure   = true
    username   = "user"
    password   = "pass"
    datacenter = "DC0"
    folder     = "."
  }
}
`)
	r := imgbuild(t, dir, plugins, "build", ".")
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	if !strings.Contains(r.stdout, "Registering virtual machine as a template: imgbuild-pp-golden") {
		t.Errorf("the post-processor did not reach its last step:\n%s", r.stdout)
	}
	found := false
	for _, vm := range testenv.VCSimVMs(t, url) {
		found = found || vm.Path == "/DC0/vm/imgbuild-pp-golden"
	}
	if !found {
		t.Errorf("the simulator has no /DC0/vm/imgbuild-pp-golden")
	}
	if procs := pluginProcesses(t, plugins); len(procs) > 0 {
		t.Errorf("plugin processes left: %v", procs)
	}
}
