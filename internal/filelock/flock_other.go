//go:build !unix

package filelock

import "os"

// Without flock, nothing is locked: processes do not take turns, and
// TryExclusive never succeeds, so that nothing that needs the lock alone
// (a cache sweep) runs.
func Exclusive(*os.File) error            { return nil }
func TryExclusive(*os.File) (bool, error) { return false, nil }
func Shared(*os.File) error               { return nil }
