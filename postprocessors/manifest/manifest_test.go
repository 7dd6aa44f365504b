package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/plugin/plugintest"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func run(t *testing.T, cfg Config, runUUID, source string, in plugin.Artifact) {
	t.Helper()
	p := &PostProcessor{cfg: cfg}
	if _, err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	env := &plugin.PostProcessEnv{UI: ui.New(ui.Options{Out: &out}).Build("docker." + source), SourceType: "docker", SourceName: source, RunUUID: runUUID, BuildTimeUnix: 1700000000}
	got, keep, force, err := p.PostProcess(context.Background(), env, in)
	if err != nil {
		t.Fatal(err)
	}
	if got != in || !keep || !force {
		t.Fatalf("manifest must pass its input through and keep it")
	}
}

func TestManifestWritesPackersShapeAndAppendsAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	output := filepath.Join(dir, "m.json")
	file := filepath.Join(dir, "disk.img")
	os.WriteFile(file, []byte("12345"), 0o644)

	run(t, Config{Output: output, CustomData: map[string]string{"k": "v"}}, "run-1", "hello", &plugintest.Artifact{Builder: "packer.docker", Name: "sha256:abc", Paths: []string{file}})
	run(t, Config{Output: output, StripPath: true, StripTime: true}, "run-2", "other", &plugintest.Artifact{Builder: "packer.docker", Name: "sha256:def", Paths: []string{file}})

	raw, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m["last_run_uuid"] != "run-2" {
		t.Errorf("last_run_uuid = %v", m["last_run_uuid"])
	}
	builds := m["builds"].([]any)
	if len(builds) != 2 {
		t.Fatalf("builds = %d, want 2 (appended)", len(builds))
	}
	b0 := builds[0].(map[string]any)
	for k, want := range map[string]any{"name": "hello", "builder_type": "docker", "build_time": 1700000000.0, "artifact_id": "sha256:abc", "packer_run_uuid": "run-1"} {
		if b0[k] != want {
			t.Errorf("builds[0].%s = %v, want %v", k, b0[k], want)
		}
	}
	if f := b0["files"].([]any)[0].(map[string]any); f["name"] != file || f["size"] != 5.0 {
		t.Errorf("files[0] = %v", f)
	}
	if b0["custom_data"].(map[string]any)["k"] != "v" {
		t.Errorf("custom_data = %v", b0["custom_data"])
	}
	b1 := builds[1].(map[string]any)
	if _, has := b1["build_time"]; has {
		t.Error("strip_time kept build_time")
	}
	if f := b1["files"].([]any)[0].(map[string]any); f["name"] != "disk.img" {
		t.Errorf("strip_path kept the folder: %v", f["name"])
	}
}

func TestManifestParallelBuildsAllRecordedAndSecretsMasked(t *testing.T) {
	secret.Add("topsecret-value")
	t.Cleanup(secret.Reset)
	output := filepath.Join(t.TempDir(), "m.json")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(t, Config{Output: output, CustomData: map[string]string{"pw": "topsecret-value"}}, "r", "b", &plugintest.Artifact{Builder: "packer.docker", Name: "id"})
		}()
	}
	wg.Wait()
	raw, _ := os.ReadFile(output)
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Builds) != 8 {
		t.Errorf("builds = %d, want 8: concurrent writes were lost", len(m.Builds))
	}
	if strings.Contains(string(raw), "topsecret-value") {
		t.Error("a secret was written to the manifest")
	}
}
