package checksum

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/plugin/plugintest"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func TestChecksumWritesOneFilePerTypeWithKnownHashes(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "disk.img")
	os.WriteFile(f, []byte("hello\n"), 0o644)
	p := &PostProcessor{cfg: Config{
		ChecksumTypes: []string{"md5", "sha1", "sha256", "sha512"},
		Output:        filepath.Join(dir, "{{.BuildName}}_{{.BuilderType}}.{{.ChecksumType}}"),
	}}
	if _, err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	env := &plugin.PostProcessEnv{UI: ui.New(ui.Options{Out: &out}).Build("qemu.vm"), SourceName: "vm", SourceType: "qemu"}
	res, keep, _, err := p.PostProcess(context.Background(), env, &plugintest.Artifact{Builder: "transcend.qemu", Name: "x", Paths: []string{f}})
	if err != nil {
		t.Fatal(err)
	}
	if !keep {
		t.Error("checksum should keep its input by default")
	}
	want := map[string]string{ // echo hello | <tool>
		"md5":    "b1946ac92492d2347c6235b4d2611184",
		"sha1":   "f572d396fae9206628714fb2ce00f72e94f2258f",
		"sha256": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
		"sha512": "e7c22b994c59d9cf2b48e549b1e24666636045930d3da7c1acb299d1c3b7f931f94aae41edda2c2b207a36e10f8bcb8d45223e54878f5b316e7ce3b6bc019629",
	}
	for typ, sum := range want {
		b, err := os.ReadFile(filepath.Join(dir, "vm_qemu."+typ))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != sum+"\tdisk.img\n" {
			t.Errorf("%s file = %q", typ, got)
		}
	}
	if len(res.Files()) != 4 {
		t.Errorf("artifact files = %v", res.Files())
	}
}

func TestChecksumRejectsUnknownType(t *testing.T) {
	_, err := (&PostProcessor{cfg: Config{ChecksumTypes: []string{"crc32"}}}).Prepare()
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("err = %v", err)
	}
}
