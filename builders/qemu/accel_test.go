package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// fakeKVMQEMU writes a qemu_binary that runs the real QEMU, except that a
// guest asked for under KVM runs under TCG instead, and as $PROBE_KVM says:
// "hang" (paused with -S: a /dev/kvm whose guests never get anywhere),
// "fail" (QEMU refuses, as without a usable KVM) or "run". $PROBE_TCG=hang
// pauses the TCG guest too (a host too busy to run anything in time).
func fakeKVMQEMU(t *testing.T, name string) string {
	t.Helper()
	qemu := testenv.NeedCommand(t, "qemu-system-x86_64")
	p := filepath.Join(t.TempDir(), name)
	script := `#!/bin/sh
kvm=0
for a; do
	shift
	if [ "$a" = kvm ]; then kvm=1; set -- "$@" tcg; else set -- "$@" "$a"; fi
done
if [ $kvm = 1 ]; then
	case "$PROBE_KVM" in
	hang) exec ` + qemu + ` "$@" -S ;;
	fail) echo "qemu: warning: something minor" >&2; echo "qemu: failed to initialize kvm: Permission denied" >&2; exit 1 ;;
	esac
elif [ "$PROBE_TCG" = hang ]; then
	exec ` + qemu + ` "$@" -S
fi
exec ` + qemu + ` "$@"
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// probeTestEnv gives the test its own verdict cache, a KVM device it can
// open, and a short probe bound.
func probeTestEnv(t *testing.T) (cacheDir string) {
	t.Helper()
	cacheDir = t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheDir)
	dev := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	oldDev, oldTimeout := kvmDevice, kvmProbeTimeout
	kvmDevice, kvmProbeTimeout = dev, 1500*time.Millisecond
	t.Cleanup(func() { kvmDevice, kvmProbeTimeout = oldDev, oldTimeout })
	return cacheDir
}

func cachedVerdicts(t *testing.T, cacheDir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(cacheDir, "imgbuild", "kvm-probe-*"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// The test guest enters long mode and ends QEMU with its own exit status;
// under software emulation it does so well within the probe's bound.
func TestKVMProbeGuestRunsToItsEndUnderTCG(t *testing.T) {
	qemu := testenv.NeedCommand(t, "qemu-system-x86_64")
	img := filepath.Join(t.TempDir(), "guest.bin")
	if err := os.WriteFile(img, probeGuest, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runProbeGuest(context.Background(), qemu, "tcg", img); !r.finished {
		t.Fatalf("the probe guest under TCG: %+v, want it to reach its end", r)
	}
}

func TestKVMProbeCachesOnlyDefiniteVerdicts(t *testing.T) {
	tests := []struct {
		name, kvm, tcg string
		wantOK         bool
		wantWhy        string
		wantCached     string // "" for nothing cached
	}{
		{"a guest that runs is ok, and cached", "run", "run", true, "", "ok\n"},
		{"a guest hung under KVM while TCG runs is a definite no", "hang", "run", false, "emulated or broken", "no\n"},
		{"QEMU refusing KVM is a definite no with its reason", "fail", "run", false, "failed to initialize kvm: Permission denied", "no\n"},
		{"a busy host (nothing runs in time) is not cached", "hang", "hang", false, "probed again next time", ""},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			cache := probeTestEnv(t)
			t.Setenv("PROBE_KVM", tt.kvm)
			t.Setenv("PROBE_TCG", tt.tcg)
			v := kvmUsable(fakeKVMQEMU(t, "qemu-system-x86_64"))
			if v.ok != tt.wantOK || !strings.Contains(v.why, tt.wantWhy) {
				t.Errorf("verdict %+v, want ok=%v and a reason containing %q", v, tt.wantOK, tt.wantWhy)
			}
			got := cachedVerdicts(t, cache)
			switch {
			case tt.wantCached == "" && len(got) != 0:
				t.Errorf("cached %q; an inconclusive probe must not be", got)
			case tt.wantCached != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tt.wantCached)):
				t.Errorf("cached %q, want one verdict starting %q", got, tt.wantCached)
			}
		})
	}
}

// A busy host's timeout is retried by the next build, which then caches
// what it finds; that verdict is reused without running QEMU.
func TestKVMProbeRetriesAfterATimeoutThenReusesTheVerdict(t *testing.T) {
	cache := probeTestEnv(t)
	bin := fakeKVMQEMU(t, "qemu-system-x86_64")
	t.Setenv("PROBE_KVM", "hang")
	t.Setenv("PROBE_TCG", "hang")
	if v := kvmUsable(bin); v.ok || v.definite {
		t.Fatalf("busy host: %+v, want an indefinite no", v)
	}
	t.Setenv("PROBE_KVM", "run")
	t.Setenv("PROBE_TCG", "run")
	if v := kvmUsable(bin); !v.ok {
		t.Fatalf("second probe: %+v, want ok: the timeout was not retried", v)
	}
	if got := cachedVerdicts(t, cache); len(got) != 1 || got[0] != "ok\n" {
		t.Fatalf("cache %q", got)
	}
	// From the cache: a QEMU that would now refuse KVM is not asked.
	t.Setenv("PROBE_KVM", "fail")
	if v := kvmUsable(bin); !v.ok {
		t.Errorf("third probe: %+v, want the cached ok", v)
	}
}

// Each qemu_binary has its own probe and cache entry: a build with a
// QEMU whose KVM works is not refused KVM because another binary's was
// broken, and an upgraded binary is probed afresh.
func TestKVMProbeIsPerBinary(t *testing.T) {
	cache := probeTestEnv(t)
	t.Setenv("PROBE_TCG", "run")
	t.Setenv("PROBE_KVM", "fail")
	broken := fakeKVMQEMU(t, "qemu-broken")
	t.Cleanup(func() { probesMu.Lock(); delete(probes, broken); probesMu.Unlock() })
	if v, _ := probeFor(broken).wait(context.Background()); v.ok {
		t.Fatalf("broken binary: %+v", v)
	}
	t.Setenv("PROBE_KVM", "run")
	working := fakeKVMQEMU(t, "qemu-working")
	t.Cleanup(func() { probesMu.Lock(); delete(probes, working); probesMu.Unlock() })
	if v, _ := probeFor(working).wait(context.Background()); !v.ok {
		t.Fatalf("working binary after a broken one: %+v, want ok", v)
	}
	if got := cachedVerdicts(t, cache); len(got) != 2 {
		t.Fatalf("cache %q, want one verdict per binary", got)
	}
	// A new build of the broken binary (other size and time) is probed again.
	later := time.Now().Add(time.Minute)
	script, err := os.ReadFile(broken)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, append(script, "\n# upgraded\n"...), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(broken, later, later)
	if v := kvmUsable(broken); !v.ok {
		t.Errorf("upgraded binary: %+v, want a fresh probe (ok)", v)
	}
}
