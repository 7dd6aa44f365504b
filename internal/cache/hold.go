package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/imgbuild/imgbuild/internal/filelock"
)

// WorkingPrefix starts the name of a file or folder in the data folder
// that a running build uses (a qemu VM's disk, its QMP socket's folder).
// The build turns it into a checkpoint or removes it when it ends, even on
// failure or Ctrl-C; one that a killed build (SIGKILL, a crash, a power
// cut) left is swept.
const WorkingPrefix = "active-"

// Hold marks the store as used by this process until release is called
// or the process ends, however it ends: the lock is the kernel's, on an
// open file. Working files are swept only while no process holds the
// store, so a sweep never takes a running build's disk. When no other
// process holds it, Hold first sweeps and returns what it removed.
func (s *Store) Hold() (release func(), swept []string, err error) {
	f, err := s.openLock()
	if err != nil {
		return nil, nil, err
	}
	if ok, _ := filelock.TryExclusive(f); ok {
		swept, err = s.sweepLeftovers()
	}
	// From exclusive (or nothing) to shared: other builds may hold it too.
	if lerr := filelock.Shared(f); lerr != nil {
		f.Close()
		return nil, swept, fmt.Errorf("locking the cache: %w", lerr)
	}
	return func() { f.Close() }, swept, err
}

// SweepLeftovers removes what killed builds left: working files, and the
// files the builders' sweepers find unneeded. It does nothing and reports
// busy while a build holds the store: that build's disk cannot be told
// from a dead one's by its name.
func (s *Store) SweepLeftovers() (swept []string, busy bool, err error) {
	f, err := s.openLock()
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	ok, err := filelock.TryExclusive(f)
	if err != nil || !ok {
		return nil, err == nil, err
	}
	swept, err = s.sweepLeftovers()
	return swept, false, err
}

// openLock opens the file whose lock Hold and SweepLeftovers take.
func (s *Store) openLock() (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the cache lock: %w", err)
	}
	return f, nil
}

// A DataSweeper lists the files in the data folder that no recorded
// checkpoint needs (a layer made by a build killed before it recorded it).
// It is called only while no build holds the store, with every entry.
type DataSweeper func(dataDir string, entries []Entry) ([]string, error)

var dataSweepers []DataSweeper

// RegisterDataSweeper adds a builder's way of finding its unneeded files.
func RegisterDataSweeper(f DataSweeper) {
	removersMu.Lock()
	defer removersMu.Unlock()
	dataSweepers = append(dataSweepers, f)
}

// sweepLeftovers removes every working file, and the files the builders'
// sweepers find unneeded; the caller holds the store alone.
func (s *Store) sweepLeftovers() ([]string, error) {
	names, err := filepath.Glob(filepath.Join(s.DataDir(), WorkingPrefix+"*"))
	if err != nil {
		return nil, err
	}
	var swept []string
	var errs []error
	for _, n := range names {
		if err := os.RemoveAll(n); err != nil {
			errs = append(errs, err)
			continue
		}
		swept = append(swept, n)
	}
	removersMu.Lock()
	sweepers := slices.Clone(dataSweepers)
	removersMu.Unlock()
	if len(sweepers) > 0 {
		entries, err := s.List()
		if err != nil {
			return swept, errors.Join(append(errs, err)...)
		}
		for _, f := range sweepers {
			orphans, err := f(s.DataDir(), entries)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, n := range orphans {
				if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
					continue
				}
				swept = append(swept, n)
			}
		}
	}
	return swept, errors.Join(errs...)
}
