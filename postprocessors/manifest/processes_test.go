package manifest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestMain removes the imgbuild binary the tests built.
func TestMain(m *testing.M) { testenv.Main(m) }

// Several imgbuild processes write one manifest at once, each with several
// parallel builds: every build is recorded (the lock holds across
// processes, not only within one).
func TestManifestKeepsEveryBuildOfConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds imgbuild and runs it 8 times")
	}
	bin := testenv.Binary(t)
	dir := t.TempDir()
	output := filepath.Join(dir, "shared", "manifest.json")
	const processes, builds = 8, 5
	var tpl strings.Builder
	var sources []string
	for i := range builds {
		fmt.Fprintf(&tpl, "source \"null\" \"b%d\" {\n  communicator = \"none\"\n}\n", i)
		sources = append(sources, fmt.Sprintf("%q", fmt.Sprintf("source.null.b%d", i)))
	}
	fmt.Fprintf(&tpl, "build {\n  sources = [%s]\n  post-processor \"manifest\" {\n    output = %q\n  }\n}\n", strings.Join(sources, ", "), output)
	path := filepath.Join(dir, "t.pkr.hcl")
	if err := os.WriteFile(path, []byte(tpl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := exec.Command(bin, "build", path).CombinedOutput(); err != nil {
				t.Errorf("process %d: imgbuild build: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	raw, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest: %v\n%s", err, raw)
	}
	runs := map[string]int{}
	for _, b := range m.Builds {
		runs[b.PackerRunUUID]++
	}
	if len(m.Builds) != processes*builds || len(runs) != processes {
		t.Errorf("manifest holds %d builds of %d runs, want %d of %d: concurrent writes were lost", len(m.Builds), len(runs), processes*builds, processes)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "shared", ".*")); len(leftovers) > 0 {
		t.Errorf("temporary files left beside the manifest: %v", leftovers)
	}
}
