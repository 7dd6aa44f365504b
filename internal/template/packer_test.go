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
