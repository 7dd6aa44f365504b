// Package filelock takes the kernel's advisory locks (flock) on open files,
// so that imgbuild processes take turns at what they share: the resource
// ledger, a manifest, the step cache. The kernel drops a lock when its
// file is closed or its process ends, however it ends: a killed build
// never leaves a lock held.
package filelock

import (
	"fmt"
	"os"
)

// Lock opens path, a folder or a file (created with mode 0600 when
// missing), and waits for its exclusive lock. unlock releases it. Locking
// a folder leaves no lock file behind; it suits a file that is replaced by
// rename, whose own lock would stay with the old file.
func Lock(path string) (unlock func(), err error) {
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s to lock it: %w", path, err)
	}
	if err := Exclusive(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func open(path string) (*os.File, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return os.Open(path)
	}
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
