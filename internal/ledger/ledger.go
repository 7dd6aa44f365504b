// Package ledger records, durably and before a build relies on them, the
// resources a build creates (of the kinds plugins register), so that `imgbuild cleanup` can remove
// what a crashed or killed run left behind.
//
// The ledger is a JSON-lines file under the user's state directory
// ($XDG_STATE_HOME/imgbuild, else ~/.local/state/imgbuild). Each line is an
// Entry; every write is fsynced before the call returns. Appends of one
// line are atomic enough for concurrent imgbuild processes (O_APPEND).
package ledger

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/imgbuild/imgbuild/internal/filelock"
)

// Actions an entry records.
const (
	// Created: the resource exists (or is being created) and is temporary
	// until a later Kept or Deleted entry says otherwise.
	Created = "created"
	// Deleted: the resource is gone.
	Deleted = "deleted"
	// Kept: the resource must stay: a build's result, or kept for
	// inspection (see Cleaner.TrackKept).
	Kept = "kept"
)

// Entry is one line of the ledger.
type Entry struct {
	Time     time.Time `json:"time"`
	Run      string    `json:"run"`
	Action   string    `json:"action"`
	Kind     string    `json:"kind"` // registered by the plugin that records it (see Register)
	ID       string    `json:"id"`
	Region   string    `json:"region"`
	Endpoint string    `json:"endpoint,omitempty"` // the API endpoint, when not the default
	Profile  string    `json:"profile,omitempty"`
	Build    string    `json:"build,omitempty"`
	// PID and Host identify the imgbuild process that wrote the entry, so
	// that cleanup can leave the resources of a build still running alone.
	PID  int    `json:"pid,omitempty"`
	Host string `json:"host,omitempty"`
}

// Key identifies a resource across entries.
func (e Entry) Key() string { return e.Kind + "/" + e.Region + "/" + e.ID }

// Ledger appends entries to one file.
type Ledger struct {
	mu   sync.Mutex
	path string
}

// DefaultPath is the ledger file under the user's state directory.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the state directory for the resource ledger: %w (set XDG_STATE_HOME)", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "imgbuild", "resources.jsonl"), nil
}

// Open returns the ledger at path ("" for DefaultPath), creating its folder.
func Open(path string) (*Ledger, error) {
	if path == "" {
		p, err := DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the resource ledger folder: %w", err)
	}
	return &Ledger{path: path}, nil
}

// Path is the ledger's file.
func (l *Ledger) Path() string { return l.path }

// Append writes e and fsyncs the file, so the entry survives a crash.
func (l *Ledger) Append(e Entry) error {
	size, err := l.append(e)
	if err != nil {
		return err
	}
	if size > compactAbove {
		// Best effort: the entry is written; a ledger too big to compact
		// now is compacted by a later append or by imgbuild cleanup.
		_ = l.Compact()
	}
	return nil
}

// compactAbove is the size past which Append compacts the ledger: some
// builders add two lines per build, and otherwise only imgbuild cleanup
// compacted it.
var compactAbove int64 = 1 << 20

// append writes e and returns the ledger's size after it.
func (l *Ledger) append(e Entry) (int64, error) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("encoding a ledger entry: %w", err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	unlock, err := l.lock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("opening the resource ledger: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return 0, fmt.Errorf("writing the resource ledger %s: %w", l.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, fmt.Errorf("syncing the resource ledger %s: %w", l.path, err)
	}
	st, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("writing the resource ledger %s: %w", l.path, err)
	}
	return st.Size(), nil
}

// lock takes the ledger's lock file, which serialises appends of several
// imgbuild processes with Compact (a lock on the ledger itself would not:
// Compact replaces the file).
func (l *Ledger) lock() (func(), error) {
	unlock, err := filelock.Lock(l.path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("locking the resource ledger: %w", err)
	}
	return unlock, nil
}

// Compact rewrites the ledger with only the entries of resources still
// outstanding, so that it does not grow forever. The new file replaces the
// old one atomically.
func (l *Ledger) Compact() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the resource ledger: %w", err)
	}
	entries, err := decode(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading the resource ledger: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(l.path), ".resources-*.jsonl")
	if err != nil {
		return fmt.Errorf("compacting the resource ledger: %w", err)
	}
	defer os.Remove(tmp.Name())
	enc := json.NewEncoder(tmp)
	keep := Outstanding(entries, "")
	for _, e := range KeptResources(entries, "") {
		// A resource kept for inspection stays known, so that cleanup
		// leaves it unless asked; a kept result is not tracked.
		if !forgetsKept(e.Kind) {
			keep = append(keep, e)
		}
	}
	for _, e := range keep {
		if err := enc.Encode(e); err != nil {
			tmp.Close()
			return fmt.Errorf("compacting the resource ledger: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("compacting the resource ledger: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("compacting the resource ledger: %w", err)
	}
	if err := os.Rename(tmp.Name(), l.path); err != nil {
		return fmt.Errorf("compacting the resource ledger: %w", err)
	}
	if d, err := os.Open(filepath.Dir(l.path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Read returns every entry, in order. A torn last line (a crash mid-write)
// is skipped.
func (l *Ledger) Read() ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the resource ledger: %w", err)
	}
	defer f.Close()
	return decode(f)
}

func decode(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Outstanding returns, per resource, the last Created entry of resources
// that were neither deleted nor kept afterwards, in creation order. run
// limits it to one run ("" for all).
func Outstanding(entries []Entry, run string) []Entry { return lastWith(entries, run, Created) }

// KeptResources returns, per resource, the last entry of resources whose
// last word is Kept (a build kept them for inspection, -on-error=abort),
// in order; run limits it to one run ("" for all).
func KeptResources(entries []Entry, run string) []Entry { return lastWith(entries, run, Kept) }

// lastWith returns the last entry of each resource (of run, or all when
// run is "") whose action is action, in the order resources first appear.
func lastWith(entries []Entry, run, action string) []Entry {
	last := map[string]Entry{}
	var order []string
	for _, e := range entries {
		if run != "" && e.Run != run {
			continue
		}
		k := e.Key()
		if _, seen := last[k]; !seen {
			order = append(order, k)
		}
		last[k] = e
	}
	var out []Entry
	for _, k := range order {
		if e := last[k]; e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// RunAlive reports whether the process that wrote run's entries still runs
// on this host (then its resources are in use, not left over).
func RunAlive(entries []Entry, run string) bool {
	host, _ := os.Hostname()
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Run != run {
			continue
		}
		if e.PID <= 0 || e.Host != host || e.PID == os.Getpid() {
			return false
		}
		return syscall.Kill(e.PID, 0) == nil
	}
	return false
}
