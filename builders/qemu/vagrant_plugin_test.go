package qemu

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestQemuArtifactBecomesALibvirtBoxThroughTheVagrantPlugin chains a
// native qemu build into the vagrant post-processor of HashiCorp's
// packer-plugin-vagrant and reads the box back: its metadata, its
// Vagrantfile and its disk.
func TestQemuArtifactBecomesALibvirtBoxThroughTheVagrantPlugin(t *testing.T) {
	vm := needTestVM(t)
	plugins := testenv.PluginDir(t, "vagrant")
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	box := filepath.Join(dir, "testvm.box")
	tmpl := `packer {
  required_plugins {
    vagrant = {
      source  = "github.com/hashicorp/vagrant"
      version = ">= 1.0.0"
    }
  }
}
` + cliSource(vm, "vm", "testvm.qcow2", out) + `
build {
  sources = ["source.qemu.vm"]
  provisioner "shell" {
    inline = ["echo boxed > /root/boxed.txt", "sync"]
  }
  post-processor "vagrant" {
    output = "` + box + `"
  }
}
`
	tmplPath := filepath.Join(dir, "box.pkr.hcl")
	if err := os.WriteFile(tmplPath, []byte(strings.Replace(tmpl, `  vm_name `, "  format = \"qcow2\"\n  disk_size = \"1024\"\n  vm_name ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Binary(t), "build", tmplPath)
	cmd.Dir = dir
	// HOME stays: the qemu builder keeps its KVM probe verdict under it.
	cmd.Env = append(os.Environ(), "PACKER_PLUGIN_PATH="+plugins)
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, output)
	}
	if !strings.Contains(string(output), "Creating a dummy Vagrant box to ensure the host system can create one correctly") &&
		!strings.Contains(string(output), "Compressing: ") {
		t.Logf("build output:\n%s", output)
	}
	files := readBox(t, box)
	var meta map[string]any
	if err := json.Unmarshal(files["metadata.json"], &meta); err != nil {
		t.Fatalf("metadata.json: %v (%q)", err, files["metadata.json"])
	}
	if meta["provider"] != "libvirt" || meta["format"] != "qcow2" || meta["virtual_size"] != float64(1) {
		t.Errorf("metadata.json = %v, want provider libvirt, format qcow2, virtual_size 1 (GB)", meta)
	}
	if !strings.Contains(string(files["Vagrantfile"]), `libvirt.driver = "`) {
		t.Errorf("Vagrantfile = %q", files["Vagrantfile"])
	}
	if img := files["box.img"]; len(img) < 4 || !bytes.Equal(img[:4], []byte("QFI\xfb")) {
		t.Errorf("box.img is not a qcow2 image (%d bytes)", len(img))
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the qemu output folder %s is still there: the vagrant post-processor does not keep its input", out)
	}
}

// readBox reads every file of a .box (a gzipped tar) into memory: the test
// VM's disk is small.
func readBox(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the box was not written: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimPrefix(h.Name, "./")] = b
	}
	return files
}
