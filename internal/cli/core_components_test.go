package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// The components Packer has in its own binary (no plugin to install):
// data "http" and data "null", source "file", provisioner "sleep" and
// post-processor "artifice", in one template as a user writes them, through validate and
// build. The checksum file the http data source fetched ends up in the
// file builder's target, artifice hands a provisioner's output on, and
// checksum hashes it.
func TestPackerCoreComponentsBuildTogether(t *testing.T) {
	bin := testenv.Binary(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "abc" {
			http.Error(w, "no token", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "1.2.3")
	}))
	defer srv.Close()
	dir := t.TempDir()
	tpl := `
data "http" "version" {
  url             = "` + srv.URL + `/latest"
  request_headers = { X-Token = "abc" }
}
data "null" "name" {
  input = "app-${data.http.version.body}"
}
source "file" "release" {
  content = "release ${data.null.name.output}\n"
  target  = "` + dir + `/out/release.txt"
}
build {
  sources = ["source.file.release"]
  provisioner "sleep" {
    duration = "10ms"
  }
  provisioner "shell-local" {
    inline = ["tr a-z A-Z < ` + dir + `/out/release.txt > ` + dir + `/out/RELEASE.txt"]
  }
  post-processors {
    post-processor "artifice" {
      files = ["` + dir + `/out/RELEASE.*"]
    }
    post-processor "checksum" {
      checksum_types = ["sha256"]
      output         = "` + dir + `/out/{{.ChecksumType}}.sums"
    }
  }
}
`
	path := filepath.Join(dir, "t.pkr.hcl")
	if err := os.WriteFile(path, []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "validate", path).CombinedOutput(); err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "build", path).CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out", "release.txt")); string(b) != "release app-1.2.3\n" {
		t.Errorf("the file builder wrote %q, want the http and null data sources' values", b)
	}
	sums, _ := os.ReadFile(filepath.Join(dir, "out", "sha256.sums"))
	if !strings.Contains(string(sums), "RELEASE.txt") || strings.Contains(string(sums), "release.txt") {
		t.Errorf("checksum hashed %q, want artifice's file only", sums)
	}
	if !strings.Contains(string(out), "Created artifact from files: "+filepath.Join(dir, "out", "RELEASE.txt")) {
		t.Errorf("the summary does not list artifice's artifact:\n%s", out)
	}

	// A refused request fails the build before any source, naming the status.
	os.WriteFile(path, []byte(strings.Replace(tpl, `X-Token = "abc"`, `X-Token = "wrong"`, 1)), 0o644)
	out, err = exec.Command(bin, "build", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "403") {
		t.Errorf("a refused request: %v\n%s", err, out)
	}
}

// The same components in a legacy JSON template, with Packer's weak
// decoding ("10ms" for a duration) and a user variable, through build and
// hcl2_upgrade.
func TestPackerCoreComponentsInALegacyJSONTemplate(t *testing.T) {
	bin := testenv.Binary(t)
	dir := t.TempDir()
	tpl := `{
  "variables": {"greeting": "hello"},
  "builders": [{"type": "file", "content": "{{user ` + "`greeting`" + `}} world\n", "target": "` + dir + `/out/f.txt"}],
  "provisioners": [
    {"type": "sleep", "duration": "10ms"},
    {"type": "shell-local", "inline": ["tr a-z A-Z < ` + dir + `/out/f.txt > ` + dir + `/out/g.txt"]}
  ],
  "post-processors": [{"type": "artifice", "files": ["` + dir + `/out/g.txt"]}]
}`
	path := filepath.Join(dir, "t.json")
	if err := os.WriteFile(path, []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "build", path).CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out", "g.txt")); string(b) != "HELLO WORLD\n" {
		t.Errorf("the chain wrote %q", b)
	}
	if !strings.Contains(string(out), "Created artifact from files: "+filepath.Join(dir, "out", "g.txt")) {
		t.Errorf("the summary does not list artifice's artifact:\n%s", out)
	}
	upgraded := filepath.Join(dir, "t.pkr.hcl")
	if out, err := exec.Command(bin, "hcl2_upgrade", "-output-file", upgraded, path).CombinedOutput(); err != nil {
		t.Fatalf("hcl2_upgrade: %v\n%s", err, out)
	}
	hcl, _ := os.ReadFile(upgraded)
	for _, want := range []string{`source "file" "file"`, `provisioner "sleep"`, `duration = "10ms"`, `post-processor "artifice"`} {
		if !strings.Contains(string(hcl), want) {
			t.Errorf("the upgraded template lacks %s:\n%s", want, hcl)
		}
	}
	if out, err := exec.Command(bin, "validate", upgraded).CombinedOutput(); err != nil {
		t.Errorf("the upgraded template does not validate: %v\n%s", err, out)
	}
}
