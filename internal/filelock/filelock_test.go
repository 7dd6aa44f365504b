package filelock

import (
	"os"
	"path/filepath"
	"testing"
)

// flock locks belong to an open file: a second open of the same path, even
// in this process, is another holder.
func otherHolderCanLock(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ok, err := TryExclusive(f)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestLockExcludesOtherHoldersUntilUnlockedAndLeavesNoFileInAFolder(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{dir, filepath.Join(dir, "x.lock")} {
		unlock, err := Lock(path)
		if err != nil {
			t.Fatal(err)
		}
		if otherHolderCanLock(t, path) {
			t.Errorf("%s: another holder took the lock while it was held", path)
		}
		unlock()
		if !otherHolderCanLock(t, path) {
			t.Errorf("%s: the lock was still held after unlock", path)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "x.lock" {
		t.Errorf("folder holds %v, want only the file lock's x.lock", entries)
	}
}
