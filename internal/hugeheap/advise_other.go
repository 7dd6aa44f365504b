//go:build !linux

package hugeheap

func adviseHuge([]byte) bool { return false }
