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

// A recorded checkpoint's complete VM state stays; what a build killed
// while saving or compressing one leaves (the raw stream, a partial
// state) is swept.
func TestSweepKeepsACheckpointsVMStateAndRemovesHalfSavedOnes(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		testenv.Unavailable(t, "qemu-img (qemu-utils) to make qcow2 layers")
	}
	dir := t.TempDir()
	layer := filepath.Join(dir, strings.Repeat("a", 64)+"-"+strings.Repeat("1", 12)+".qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", layer, "1M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	for _, p := range []string{stateFile(layer), stateInfoFile(layer), stateRawFile(layer), stateFile(layer) + ".partial"} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := unneededLayers(dir, []cache.Entry{{Key: cache.Key(strings.Repeat("a", 64)), Builder: "qemu", Ref: layer}})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{stateFile(layer) + ".partial", stateRawFile(layer)}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("swept %v, want only the half-saved state files %v", got, want)
	}
}
