package template

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSourceBytesCountsTheFilesLoadReads(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.pkr.hcl", 100)
	write("b.pkr.json", 20)
	write("vars.auto.pkrvars.hcl", 7) // a variables file, not a template
	write("notes.txt", 1000)
	if err := os.Mkdir(filepath.Join(dir, "sub.pkr.hcl"), 0o755); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int64{
		dir:                               120,
		filepath.Join(dir, "a.pkr.hcl"):   100,
		filepath.Join(dir, "missing.hcl"): 0,
	} {
		if got := SourceBytes(path); got != want {
			t.Errorf("SourceBytes(%s) = %d, want %d", path, got, want)
		}
	}
}
