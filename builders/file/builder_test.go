package file

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func run(t *testing.T, c Config, provision func(context.Context, communicator.Communicator, plugin.GeneratedData) error) (plugin.Artifact, string, error) {
	t.Helper()
	b := &Builder{}
	*b.Config().(*Config) = c
	if _, err := b.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	var out bytes.Buffer
	env := &plugin.BuildEnv{UI: ui.New(ui.Options{Out: &out}).Build("file.f"), Name: "file.f", SourceName: "f", RunUUID: "run-1", Provision: provision}
	a, err := b.Run(context.Background(), env)
	return a, out.String(), err
}

// content makes a 0600 file, in folders made for it; source is copied;
// provisioners run without a communicator; the artifact is the file.
func TestWritesContentOrCopiesSource(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out", "motd")
	var comm communicator.Communicator
	provisioned := false
	a, _, err := run(t, Config{Content: "hello\n", Target: target}, func(_ context.Context, c communicator.Communicator, data plugin.GeneratedData) error {
		provisioned, comm = true, c
		if data["PackerRunUUID"] != "run-1" {
			t.Errorf("build.PackerRunUUID = %q", data["PackerRunUUID"])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "hello\n" {
		t.Errorf("target holds %q, %v", b, err)
	}
	if st, _ := os.Stat(target); st == nil || st.Mode().Perm() != 0o600 {
		t.Errorf("target mode %v, want 0600", st)
	}
	if !provisioned || comm != nil {
		t.Errorf("provisioned %v with communicator %v, want the provisioners run without one", provisioned, comm)
	}
	if a.BuilderID() != BuilderID || a.ID() != "File" || len(a.Files()) != 1 || a.Files()[0] != target {
		t.Errorf("artifact %s %s %v", a.BuilderID(), a.ID(), a.Files())
	}

	src := filepath.Join(dir, "big.bin")
	os.WriteFile(src, bytes.Repeat([]byte("0123456789"), 100000), 0o644)
	copied := filepath.Join(dir, "copy.bin")
	_, out, err := run(t, Config{Source: src, Target: copied}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(copied); len(b) != 1000000 {
		t.Errorf("copied %d bytes, want 1000000", len(b))
	}
	if !strings.Contains(out, "Copied 1000000 bytes") {
		t.Errorf("output:\n%s", out)
	}
	if err := a.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Destroy left %s", target)
	}
}

// A build that fails after writing removes the file it wrote; a missing
// source fails naming it; source with content is refused.
func TestFailuresLeaveNoFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "f")
	_, _, err := run(t, Config{Content: "x", Target: target}, func(context.Context, communicator.Communicator, plugin.GeneratedData) error {
		if _, err := os.Stat(target); err != nil {
			t.Errorf("the file is not there while provisioning: %v", err)
		}
		return errors.New("provisioner failed")
	})
	if err == nil {
		t.Fatal("the build did not fail")
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed build left %s", target)
	}
	if _, _, err := run(t, Config{Source: filepath.Join(dir, "missing"), Target: target}, nil); err == nil || !strings.Contains(err.Error(), "source:") {
		t.Errorf("missing source: %v", err)
	}
	b := &Builder{}
	*b.Config().(*Config) = Config{Source: "a", Content: "b", Target: "c"}
	if _, err := b.Prepare(); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("source and content: %v", err)
	}
	*b.Config().(*Config) = Config{}
	if _, err := b.Prepare(); err == nil || !strings.Contains(err.Error(), "target must be set") {
		t.Errorf("no target: %v", err)
	}
}

// A shell provisioner in a file build fails saying why, through the CLI.
func TestShellProvisionerSaysTheFileBuilderHasNoMachine(t *testing.T) {
	bin := testenv.Binary(t)
	dir := t.TempDir()
	tpl := filepath.Join(dir, "t.pkr.hcl")
	os.WriteFile(tpl, []byte(`
source "file" "f" {
  content = "x"
  target  = "`+dir+`/f.txt"
}
build {
  sources = ["source.file.f"]
  provisioner "shell" { inline = ["echo hi"] }
}
`), 0o644)
	out, err := exec.Command(bin, "build", tpl).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "a builder with no machine such as file") {
		t.Errorf("build: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "f.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed build left its file")
	}
}
