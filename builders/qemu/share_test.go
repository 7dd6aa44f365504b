package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// The porter hands a checkpoint's VM state to the shared cache, and
// installs a downloaded one, only when the store shares states
// (-cache-share-vm-states); otherwise a downloaded state is removed.
func TestQemuPorterSharesVMStatesOnlyWhenTheStoreSaysSo(t *testing.T) {
	testenv.NeedCommand(t, "qemu-img")
	ctx := context.Background()
	local, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := cache.Key(strings.Repeat("ab", 32))
	layer := filepath.Join(local.DataDir(), string(key)+"-0123456789ab.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-f", "qcow2", layer, "1M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	write := func(p, content string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(stateFile(layer), "state")
	write(stateInfoFile(layer), `{"machine":"m1","qemu":"QEMU emulator version 9"}`)
	e := cache.Entry{Key: key, Builder: "qemu", Ref: layer, Step: 1}

	roles := func(s *cache.Store) string {
		t.Helper()
		files, _, err := layerPorter{}.Files(ctx, s, e)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for r := range files {
			out = append(out, r)
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	if got := roles(local); got != "layer" {
		t.Errorf("without shared states the porter hands over %s, want the layer only", got)
	}
	if got := roles(local.WithSharedStates()); got != "layer,vmstate,vmstate-info" {
		t.Errorf("with shared states the porter hands over %s, want the layer and its VM state", got)
	}

	// Another runner installs what was downloaded: copies under working
	// names in its data folder.
	install := func(s *cache.Store) (string, []string) {
		t.Helper()
		files := map[string]string{}
		for role, src := range map[string]string{"layer": layer, roleState: stateFile(layer), roleStateInfo: stateInfoFile(layer)} {
			dst := filepath.Join(s.DataDir(), cache.WorkingPrefix+"download-"+role)
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			write(dst, string(b))
			files[role] = dst
		}
		e := e
		e.Ref = filepath.Base(layer)
		ref, err := layerPorter{}.Install(ctx, s, e, cache.Entry{}, files)
		if err != nil {
			t.Fatal(err)
		}
		left, _ := filepath.Glob(filepath.Join(s.DataDir(), cache.WorkingPrefix+"*"))
		return ref, left
	}
	other := func() *cache.Store {
		s, err := cache.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ref, left := install(other())
	if fileExists(stateFile(ref)) || fileExists(stateInfoFile(ref)) || len(left) > 0 {
		t.Errorf("without shared states the downloaded state was kept (beside the layer: %v, working files: %v)", fileExists(stateFile(ref)), left)
	}
	ref, left = install(other().WithSharedStates())
	if b, err := os.ReadFile(stateFile(ref)); err != nil || string(b) != "state" || !fileExists(stateInfoFile(ref)) || len(left) > 0 {
		t.Errorf("with shared states the downloaded state is not beside the layer (%v, %q; working files left: %v)", err, b, left)
	}
}

// A runner downloads a VM state only when it shares states, and only the
// deepest checkpoint's (the one it resumes from); layers always.
func TestQemuPorterWantsOnlyTheStateItCanResumeFrom(t *testing.T) {
	local, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sharing := local.WithSharedStates()
	for _, c := range []struct {
		store   *cache.Store
		role    string
		deepest bool
		want    bool
	}{
		{local, "layer", false, true},
		{local, "final", true, true},
		{local, roleState, true, false},
		{sharing, roleState, false, false},
		{sharing, roleStateInfo, false, false},
		{sharing, roleState, true, true},
		{sharing, roleStateInfo, true, true},
	} {
		if got := (layerPorter{}).Wants(c.store, c.role, c.deepest); got != c.want {
			t.Errorf("Wants(shares states %v, %s, deepest %v) = %v, want %v", c.store.SharesStates(), c.role, c.deepest, got, c.want)
		}
	}
}
