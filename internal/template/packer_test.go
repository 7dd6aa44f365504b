package template

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDuplicateRequiredPluginsAcrossFilesFailValidateButNotTheSyntaxCheck(t *testing.T) {
	dir := t.TempDir()
	req := "packer {\n  required_plugins {\n    docker = {\n      source = \"github.com/hashicorp/docker\"\n    }\n  }\n}\n"
	files := map[string]string{
		"a.pkr.hcl": req,
		"b.pkr.hcl": req,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, diags := Load(context.Background(), LoadOptions{Path: dir, SyntaxOnly: true}); diags.HasErrors() {
		t.Fatalf("the syntax check rejects the duplicate (Packer does not): %v", diags)
	}
	_, diags := Load(context.Background(), LoadOptions{Path: dir})
	if !diags.HasErrors() {
		t.Fatal("a duplicate required_plugins entry was accepted")
	}
	d := diags[0]
	if !strings.Contains(d.Summary, `Duplicate required_plugins entry "docker"`) || d.Subject == nil ||
		filepath.Base(d.Subject.Filename) != "b.pkr.hcl" || d.Subject.Start.Line != 3 || !strings.Contains(d.Detail, "a.pkr.hcl:3") {
		t.Errorf("diagnostic %s at %v: %s", d.Summary, d.Subject, d.Detail)
	}
}

func TestDuplicateSourcesAcrossFilesFailValidateButNotTheSyntaxCheck(t *testing.T) {
	dir := t.TempDir()
	src := "source \"test-builder\" \"x\" {\n  image = \"a\"\n}\n"
	for name, text := range map[string]string{
		"a.pkr.hcl": src + "build {\n  sources = [\"source.test-builder.x\"]\n}\n",
		"b.pkr.hcl": src,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, diags := Load(context.Background(), LoadOptions{Path: dir, SyntaxOnly: true}); diags.HasErrors() {
		t.Fatalf("the syntax check rejects the duplicate (Packer does not): %v", diags)
	}
	_, diags := Load(context.Background(), LoadOptions{Path: dir})
	if !diags.HasErrors() || diags[0].Subject == nil || filepath.Base(diags[0].Subject.Filename) != "b.pkr.hcl" ||
		!strings.Contains(diags[0].Summary, "Duplicate source") {
		t.Fatalf("want a duplicate source error in b.pkr.hcl, got %v", diags)
	}
}
