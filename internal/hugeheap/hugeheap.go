// Package hugeheap lets a short-lived command that allocates tens of MiB
// have that memory backed by transparent huge pages.
//
// Why: on the virtual machines imgbuild runs on (Firecracker, CI runners)
// the first touch of a 4 KiB page costs about 2 µs, and freeing it at exit
// more; `imgbuild validate` on a 100 KiB template allocates ~20 MiB with
// the garbage collector off (hcl's tokens and syntax trees), so a third of
// its time went to page faults. A 2 MiB huge page faults in for about what
// sixty small ones cost, so the same memory comes ~8x cheaper.
//
// How: Go maps heap memory as it grows, in chunks that do not carry the
// huge-page advice, and exposes no way to ask for it. So Reserve grows the
// heap in one step with a large allocation nothing touches, advises the
// kernel to back that range with huge pages, and frees it with one
// garbage collection: the small objects the command allocates next are
// placed in that range. It pays off only while the collector stays off
// afterwards (the caller's job; otherwise the scavenger may hand the range
// back to the kernel), and only when the kernel's THP mode is "madvise"
// ("always" needs no help; "never" refuses).
package hugeheap

import (
	"os"
	"runtime"
	"strings"
)

// hugePage is the x86-64 and arm64 (4 KiB granule) transparent huge page.
const hugePage = 2 << 20

// Reserve grows the heap by about n bytes backed by huge pages, if the
// kernel backs advised memory with them. It reports whether it did. It
// runs one garbage collection (about a millisecond), so call it only when
// n is large, before the allocations it is for, and with the collector
// then off.
func Reserve(n int64) bool {
	if n < 2*hugePage || !advisable() {
		return false
	}
	block := make([]byte, n)
	if !adviseHuge(block) {
		return false
	}
	block = nil
	// Collect on one processor: on virtual machines the handshakes that
	// wake another CPU are what a collection of a small heap costs. In
	// validate, measured: a median of 1.5 ms this way, 2.0 ms on two
	// processors, where one run in ten took over 4.7 ms.
	procs := runtime.GOMAXPROCS(1)
	runtime.GC()
	runtime.GOMAXPROCS(procs)
	return true
}

// thpSetting is where Linux says when it uses transparent huge pages.
var thpSetting = "/sys/kernel/mm/transparent_hugepage/enabled"

// advisable reports whether the kernel gives huge pages to memory that asks
// for them but not to all memory: "always [madvise] never".
func advisable() bool {
	b, err := os.ReadFile(thpSetting)
	return err == nil && strings.Contains(string(b), "[madvise]")
}
