package hugeheap

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// anonHugeKiB reads how much of this process's memory is in huge pages.
func anonHugeKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		t.Skipf("no /proc/self/smaps_rollup: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "AnonHugePages:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	t.Fatal("smaps_rollup has no AnonHugePages line")
	return 0
}

var keep [][]byte

func TestReserveBacksLaterSmallAllocationsWithHugePages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("transparent huge pages are a Linux feature")
	}
	if !advisable() {
		t.Skip("this kernel's THP mode is not madvise; Reserve rightly does nothing")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := anonHugeKiB(t)
	if !Reserve(64 << 20) {
		t.Fatal("Reserve(64 MiB) did nothing although THP mode is madvise")
	}
	// Small objects, as a parser allocates them, filling ~24 MiB.
	for i := 0; i < 24<<20/512; i++ {
		b := make([]byte, 512)
		b[0] = 1
		keep = append(keep, b)
	}
	after := anonHugeKiB(t)
	keep = nil
	if after-before < 4<<10 {
		t.Fatalf("AnonHugePages grew by %d KiB after 24 MiB of small allocations; want at least 4 MiB in huge pages", after-before)
	}
}

func TestReserveDoesNothingWhenTheKernelWillNot(t *testing.T) {
	dir := t.TempDir()
	for _, setting := range []string{"always madvise [never]\n", "[always] madvise never\n"} {
		path := filepath.Join(dir, "enabled")
		if err := os.WriteFile(path, []byte(setting), 0o644); err != nil {
			t.Fatal(err)
		}
		old := thpSetting
		thpSetting = path
		got := Reserve(64 << 20)
		thpSetting = old
		if got {
			t.Errorf("Reserve with THP setting %q = true, want false", strings.TrimSpace(setting))
		}
	}
	if Reserve(1 << 20) {
		t.Error("Reserve(1 MiB) = true; a reservation under two huge pages is not worth a collection")
	}
}
