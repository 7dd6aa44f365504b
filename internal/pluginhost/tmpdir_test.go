package pluginhost

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/ledger"
)

// A plugin folder whose imgbuild process is gone is a leftover that
// cleanup removes; a live process's folder, another program's folder and
// cleanup --run are left alone.
func TestCleanupRemovesOnlyPluginFoldersOfGoneProcesses(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	live, err := makeTempDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(live, tmp) {
		t.Fatalf("the folder %s is not in TMPDIR %s", live, tmp)
	}
	gone, err := makeTempDir()
	if err != nil {
		t.Fatal(err)
	}
	// A process that has ended owns gone.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gone, ownerFile), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(gone, "tmp123", "deep"), 0o700) // what the plugin wrote
	foreign := filepath.Join(tmp, tmpDirPrefix+"other")
	os.Mkdir(foreign, 0o700)

	if found, _ := findLeftTempDirs(context.Background(), ledger.Query{Run: "some-run", Notes: io.Discard}); len(found) != 0 {
		t.Errorf("cleanup --run found plugin folders, which are no run's: %v", found)
	}
	found, err := findLeftTempDirs(context.Background(), ledger.Query{Notes: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || !strings.Contains(found[0].What, gone) {
		t.Fatalf("want only %s found, have %+v", gone, found)
	}
	if err := found[0].Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{gone: false, live: true, foreign: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", dir, err == nil, want)
		}
	}
}
