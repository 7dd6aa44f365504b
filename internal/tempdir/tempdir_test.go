package tempdir

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

// Files and folders share one run folder, which goes with the last of
// them.
func TestTheRunFolderGoesWithTheLastFileOrFolderInIt(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dir, removeDir, err := Dir("imgbuild-x-")
	if err != nil {
		t.Fatal(err)
	}
	f, removeFile, err := File("imgbuild-y-*.txt")
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Dir(dir)
	if filepath.Dir(f.Name()) != run || !strings.HasPrefix(filepath.Base(run), runPrefix) || filepath.Dir(run) != os.TempDir() {
		t.Fatalf("%s and %s are not in one run folder in %s", dir, f.Name(), os.TempDir())
	}
	if pid, ok := owner(run); !ok || pid != os.Getpid() {
		t.Errorf("the run folder's owner is %d (%v), want this process", pid, ok)
	}
	os.WriteFile(filepath.Join(dir, "inside"), []byte("x"), 0o600)
	if err := removeDir(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("the folder is left after its remove")
	}
	if _, err := os.Stat(run); err != nil {
		t.Fatal("the run folder went while a file in it was in use")
	}
	if err := removeFile(); err != nil {
		t.Fatal(err)
	}
	removeFile() // twice is once
	if _, err := os.Stat(run); err == nil {
		t.Error("the run folder is left after the last file in it was removed")
	}
	// The next one makes a new run folder.
	_, removeDir, err = Dir("imgbuild-z-")
	if err != nil {
		t.Fatal(err)
	}
	removeDir()
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "*")); len(left) != 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
}

// A run folder whose process is gone is a leftover that cleanup removes;
// a live process's folder, another program's folder and cleanup --run
// are left alone.
func TestCleanupRemovesOnlyRunFoldersOfGoneProcesses(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir, remove, err := Dir("imgbuild-plugin-")
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	live := filepath.Dir(dir)

	gone := filepath.Join(tmp, runPrefix+"gone")
	os.MkdirAll(filepath.Join(gone, "imgbuild-plugin-1", "tmp123"), 0o700) // what a plugin wrote
	cmd := exec.Command("true")                                            // a process that has ended
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gone, ownerFile), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(tmp, runPrefix+"other")
	os.Mkdir(foreign, 0o700)

	if found, _ := findLeft(context.Background(), ledger.Query{Run: "some-run", Notes: io.Discard}); len(found) != 0 {
		t.Errorf("cleanup --run found run folders, which are no build run's: %v", found)
	}
	found, err := findLeft(context.Background(), ledger.Query{Notes: io.Discard})
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
