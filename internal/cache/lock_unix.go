//go:build unix

package cache

import (
	"errors"
	"os"
	"syscall"
)

// lockExclusive takes f's lock for this process alone, without waiting;
// ok is false when another process holds it.
func lockExclusive(f *os.File) (ok bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// lockShared holds f's lock together with other processes, waiting only
// while one holds it alone (a sweep, which is quick).
func lockShared(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
}
