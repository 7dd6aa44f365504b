//go:build unix

package filelock

import (
	"errors"
	"os"
	"syscall"
)

// Exclusive waits until this process alone holds f's lock.
func Exclusive(f *os.File) error {
	return flock(f, syscall.LOCK_EX)
}

// TryExclusive takes f's lock for this process alone, without waiting;
// ok is false when another process holds it.
func TryExclusive(f *os.File) (ok bool, err error) {
	err = flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// Shared holds f's lock together with other processes, waiting only while
// one holds it alone.
func Shared(f *os.File) error {
	return flock(f, syscall.LOCK_SH)
}

// flock retries a wait that a signal interrupted.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
