package hugeheap

import (
	"syscall"
	"unsafe"
)

// adviseHuge asks the kernel to back the huge-page-aligned part of b with
// huge pages.
func adviseHuge(b []byte) bool {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	start := int((addr+hugePage-1)&^(hugePage-1) - addr)
	end := int((addr+uintptr(len(b)))&^(hugePage-1) - addr)
	if end-start < hugePage {
		return false
	}
	return syscall.Madvise(b[start:end], syscall.MADV_HUGEPAGE) == nil
}
