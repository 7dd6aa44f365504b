package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// A layer a killed build made but never recorded is swept; every file a
// recorded checkpoint stands on stays, even one no entry names.
func TestUnneededLayersAreOnlyThoseNoCheckpointStandsOn(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		testenv.Unavailable(t, "qemu-img (qemu-utils) to make qcow2 layers")
	}
	dir := t.TempDir()
	name := func(key byte, unique byte, final bool) string {
		n := strings.Repeat(string(key), 64) + "-" + strings.Repeat(string(unique), 12)
		if final {
			n += ".final"
		}
		return filepath.Join(dir, n+".qcow2")
	}
	create := func(p, backing string) {
		t.Helper()
		args := []string{"create", "-q", "-f", "qcow2"}
		if backing != "" {
			args = append(args, "-b", backing, "-F", "qcow2", p)
		} else {
			args = append(args, p, "1M")
		}
		if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
		}
	}
	old1 := name('a', '0', false)     // key a's first layer, no entry any more...
	new1 := name('a', '1', false)     // ...since key a was made again
	layer2 := name('b', '2', false)   // step 2, built on the old layer of key a
	final2 := name('b', '2', true)    // the state kept after the last shutdown
	orphan3 := name('c', '3', false)  // made by a build killed before recording it
	stranger := name('d', '4', false) // an unrecorded layer on nothing
	create(old1, "")
	create(new1, "")
	create(layer2, old1)
	create(final2, layer2)
	create(orphan3, layer2)
	create(stranger, "")
	other := filepath.Join(dir, "notes.txt") // not the qemu cache's: left alone
	os.WriteFile(other, nil, 0o644)

	entries := []cache.Entry{
		{Key: cache.Key(strings.Repeat("a", 64)), Builder: "qemu", Ref: new1},
		{Key: cache.Key(strings.Repeat("b", 64)), Builder: "qemu", Ref: layer2},
		{Key: cache.Key(strings.Repeat("e", 64)), Builder: "docker", Ref: "sha256:abc"},
	}
	got, err := unneededLayers(dir, entries)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{orphan3, stranger}
	if !slices.Equal(got, want) {
		t.Errorf("unneeded layers = %v, want %v", got, want)
	}
}
