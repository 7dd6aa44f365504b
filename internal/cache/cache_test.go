package cache

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestKeyChainChangesFromTheChangedStepOn(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "a.sh")
	os.WriteFile(script, []byte("echo one"), 0o755)
	store, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := store.Root("docker", []byte(`{"image":"base"}`), "sha256:abc")
	k1, err := root.Next("shell", []byte(`{"inline":["x"]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := k1.Next("shell", []byte(`{"script":"a.sh"}`), []string{script})

	// Same inputs, same keys.
	again1, _ := root.Next("shell", []byte(`{"inline":["x"]}`), nil)
	again2, _ := again1.Next("shell", []byte(`{"script":"a.sh"}`), []string{script})
	if again1 != k1 || again2 != k2 {
		t.Fatal("keys are not deterministic")
	}
	// A changed file changes only the step that reads it (and later ones).
	os.WriteFile(script, []byte("echo two"), 0o755)
	changed2, _ := k1.Next("shell", []byte(`{"script":"a.sh"}`), []string{script})
	if changed2 == k2 {
		t.Fatal("changing a script's content did not change its key")
	}
	// A changed base changes the root.
	if store.Root("docker", []byte(`{"image":"base"}`), "sha256:def") == root {
		t.Fatal("changing the base identity did not change the root key")
	}
}

// Keys are salted per cache (issue 14, 10): the same configuration in
// another cache has another key, the same cache opened again the same one,
// and nobody but the owner can list the cache or read its salt.
func TestKeysAreSaltedPerCacheAndTheCacheIsPrivate(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, err := Open(dirA)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Open(dirB)
	again, _ := Open(dirA)
	cfg := []byte(`{"password":"hunter2"}`)
	if a.Root("docker", cfg, "base") == b.Root("docker", cfg, "base") {
		t.Error("two caches give the same key: keys are not salted")
	}
	if a.Root("docker", cfg, "base") != again.Root("docker", cfg, "base") {
		t.Error("the same cache opened again gives another key")
	}
	for _, p := range []string{dirA, filepath.Join(dirA, "entries"), filepath.Join(dirA, "data")} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v (%v), want 0700", p, st.Mode().Perm(), err)
		}
	}
	if st, err := os.Stat(filepath.Join(dirA, "salt")); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("salt file mode %v (%v): readable by others", st.Mode().Perm(), err)
	}
}

func TestKeyCoversDirectoryNamesModesAndContent(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "d", "sub"), 0o755)
	f := filepath.Join(dir, "d", "sub", "f")
	os.WriteFile(f, []byte("x"), 0o644)
	var root Key = "r"
	k0, _ := root.Next("file", nil, []string{filepath.Join(dir, "d")})
	os.Chmod(f, 0o600)
	k1, _ := root.Next("file", nil, []string{filepath.Join(dir, "d")})
	os.Rename(f, filepath.Join(dir, "d", "sub", "g"))
	k2, _ := root.Next("file", nil, []string{filepath.Join(dir, "d")})
	if k0 == k1 || k1 == k2 {
		t.Fatalf("directory key ignored a mode or name change: %s %s %s", k0, k1, k2)
	}
}

func TestStorePrunesOldEntriesWithTheirChildrenAndFindsTheLongestPrefix(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := Entry{Key: "k1", Builder: "qemu", Ref: s.DataPath("k1", ".qcow2"), Created: time.Now().Add(-48 * time.Hour)}
	os.WriteFile(old.Ref, []byte("layer"), 0o644)
	if err := s.Put(old); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Entry{Key: "k2", Parent: "k1", Builder: "qemu"}); err != nil {
		t.Fatal(err)
	}
	n, last, err := s.LongestPrefix([]Key{"k1", "k2", "k3"})
	if err != nil || n != 2 || last.Key != "k2" {
		t.Fatalf("LongestPrefix = %d %v %v, want 2 k2", n, last.Key, err)
	}
	if err := s.Put(Entry{Key: "other", Builder: "qemu"}); err != nil {
		t.Fatal(err)
	}
	// k1 is old; k2 is new but built on k1, so it goes too (children
	// first); the unrelated new entry stays.
	removed, err := s.Prune(context.Background(), time.Now().Add(-24*time.Hour))
	if err != nil || len(removed) != 2 || removed[0].Key != "k2" || removed[1].Key != "k1" {
		t.Fatalf("Prune removed %v, %v; want k2 then k1", removed, err)
	}
	if _, ok, _ := s.Get("other"); !ok {
		t.Fatal("Prune removed an entry that is neither old nor built on an old one")
	}
	if _, err := os.Stat(old.Ref); !os.IsNotExist(err) {
		t.Fatal("pruning left the layer file behind")
	}
	if _, ok, _ := s.Get("k1"); ok {
		t.Fatal("pruned entry still there")
	}
}

func TestTornEntryIsAMiss(t *testing.T) {
	s, _ := Open(t.TempDir())
	os.WriteFile(s.entryPath("bad"), []byte("{not json"), 0o644)
	if _, ok, err := s.Get("bad"); ok || err != nil {
		t.Fatalf("torn entry: ok=%v err=%v", ok, err)
	}
}
