package cache

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Entry describes one checkpoint.
type Entry struct {
	Key      Key    `json:"key"`
	Parent   Key    `json:"parent"`
	Template string `json:"template"`  // the template path the build came from
	Build    string `json:"build"`     // the build's full name
	Step     int    `json:"step"`      // 1-based provisioner index
	StepName string `json:"step_name"` // e.g. "shell" or the provisioner's name
	Builder  string `json:"builder"`   // builder type that can use Ref
	Ref      string `json:"ref"`       // builder-specific: an image id, a layer file
	// ParentRef, in the shared cache, names the parent checkpoint this
	// one was made on (the base name of its writer's Ref).
	ParentRef string    `json:"parent_ref,omitempty"`
	Size      int64     `json:"size"`
	Created   time.Time `json:"created"`
	// Base is the digest the builder's identity of what the chain starts
	// from begins with (plugin.BaseIdentifier: docker's base image id, a
	// qemu source's sha256 checksum), if it begins with one. The key
	// covers it, so every runner that looks the checkpoint up has that
	// base: a porter need not share it (docker leaves the base image's
	// layers out).
	Base string `json:"base,omitempty"`
}

// Remover deletes what an entry's Ref points at (an image, a file). Each
// builder type that writes checkpoints registers one.
type Remover func(ctx context.Context, e Entry) error

var (
	removersMu sync.Mutex
	removers   = map[string]Remover{}
)

// RegisterRemover sets how checkpoints of a builder type are deleted.
func RegisterRemover(builderType string, r Remover) {
	removersMu.Lock()
	defer removersMu.Unlock()
	removers[builderType] = r
}

// A Describer says what a builder keeps beside an entry's Ref besides
// the checkpoint itself (the qemu builder: the VM's saved state), for
// imgbuild cache ls; "" when nothing.
type Describer func(e Entry) string

var describers = map[string]Describer{}

// RegisterDescriber sets how entries of a builder type are described.
func RegisterDescriber(builderType string, d Describer) {
	removersMu.Lock()
	defer removersMu.Unlock()
	describers[builderType] = d
}

// Describe says what else is kept with e ("" when nothing).
func Describe(e Entry) string {
	removersMu.Lock()
	d := describers[e.Builder]
	removersMu.Unlock()
	if d == nil {
		return ""
	}
	return d(e)
}

// Store is a directory of entries: entries/<key>.json, and data/ for
// builders that keep checkpoint files (qemu layers).
type Store struct {
	dir  string
	salt []byte // the secret key of Root's HMAC (file "salt", 0600)
	// shareStates: see WithSharedStates.
	shareStates bool
}

// DefaultDir is $IMGBUILD_CACHE_DIR, or imgbuild/ under the user's cache
// directory.
func DefaultDir() (string, error) {
	if d := os.Getenv("IMGBUILD_CACHE_DIR"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache directory (set IMGBUILD_CACHE_DIR): %w", err)
	}
	return filepath.Join(base, "imgbuild"), nil
}

// Open opens (creating if needed) the store in dir. The path is made
// absolute: builders write it into files (qcow2 backing-file names).
func Open(dir string) (*Store, error) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	// 0700: keys name what was built, and checkpoints hold its files.
	for _, d := range []string{dir, filepath.Join(dir, "entries"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating cache directory: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil { // made 0755 by an older imgbuild
			return nil, fmt.Errorf("restricting cache directory: %w", err)
		}
	}
	salt, err := loadSalt(filepath.Join(dir, "salt"))
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, salt: salt}, nil
}

// loadSalt reads the store's secret salt, making it on first use. Two
// processes making it at once agree: the loser of O_EXCL reads the
// winner's (written whole through a rename).
func loadSalt(path string) ([]byte, error) {
	for attempt := 0; attempt < 50; attempt++ {
		b, err := os.ReadFile(path)
		if err == nil && len(b) == 32 {
			return b, nil
		}
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("reading the cache's salt: %w", err)
		}
		if err == nil { // damaged: make a new one (old keys simply miss)
			os.Remove(path)
		}
		salt := make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), ".salt-*")
		if err != nil {
			return nil, fmt.Errorf("writing the cache's salt: %w", err)
		}
		_, werr := tmp.Write(salt)
		cerr := tmp.Close()
		if werr != nil || cerr != nil {
			os.Remove(tmp.Name())
			return nil, fmt.Errorf("writing the cache's salt: %w", errors.Join(werr, cerr))
		}
		// Link fails if another process won; then read theirs.
		lerr := os.Link(tmp.Name(), path)
		os.Remove(tmp.Name())
		if lerr == nil {
			return salt, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, errors.New("the cache's salt file keeps changing; is another program writing it?")
}

// Dir is the store's root.
func (s *Store) Dir() string { return s.dir }

// DataDir is the folder of checkpoint files.
func (s *Store) DataDir() string { return filepath.Join(s.dir, "data") }

// DataPath is where a builder keeps the file for key (with extension ext,
// e.g. ".qcow2").
func (s *Store) DataPath(k Key, ext string) string {
	return filepath.Join(s.dir, "data", string(k)+ext)
}

func (s *Store) entryPath(k Key) string {
	return filepath.Join(s.dir, "entries", string(k)+".json")
}

// Get returns the entry for k.
func (s *Store) Get(k Key) (Entry, bool, error) {
	b, err := os.ReadFile(s.entryPath(k))
	if errors.Is(err, os.ErrNotExist) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("reading cache entry %s: %w", k.Short(), err)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		// A torn or foreign file is not a checkpoint: treat it as a miss.
		return Entry{}, false, nil
	}
	return e, e.Key == k, nil
}

// Put records e durably: written to a temporary file, synced, renamed, so
// a crash leaves either the old state or the whole entry.
func (s *Store) Put(e Entry) error {
	if e.Created.IsZero() {
		e.Created = time.Now().UTC()
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "entries"), ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing cache entry: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing cache entry: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing cache entry: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing cache entry: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.entryPath(e.Key)); err != nil {
		return fmt.Errorf("writing cache entry: %w", err)
	}
	return nil
}

// List returns every entry, oldest first.
func (s *Store) List() ([]Entry, error) {
	names, err := filepath.Glob(filepath.Join(s.dir, "entries", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, n := range names {
		k := Key(strings.TrimSuffix(filepath.Base(n), ".json"))
		if e, ok, err := s.Get(k); err == nil && ok {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Remove deletes an entry and what it points at. The entry goes first, so
// a failure to delete the data never leaves an entry pointing at nothing.
func (s *Store) Remove(ctx context.Context, e Entry) error {
	if err := os.Remove(s.entryPath(e.Key)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing cache entry %s: %w", e.Key.Short(), err)
	}
	removersMu.Lock()
	r := removers[e.Builder]
	removersMu.Unlock()
	if r != nil {
		if err := r(ctx, e); err != nil {
			return fmt.Errorf("removing checkpoint %s (%s): %w", e.Key.Short(), e.Ref, err)
		}
		return nil
	}
	// Without a remover, a Ref inside the store's data directory is a file.
	if strings.HasPrefix(e.Ref, filepath.Join(s.dir, "data")+string(os.PathSeparator)) {
		if err := os.Remove(e.Ref); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing checkpoint file %s: %w", e.Ref, err)
		}
	}
	return nil
}

// Prune removes the entries created before cutoff (all of them when
// cutoff is the zero time), and with them every entry built on one of
// them (a qemu layer is useless without its backing layer), and returns
// what it removed. Children go first.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) ([]Entry, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	doomed := map[Key]bool{}
	parentOf := map[Key]Key{}
	for _, e := range all {
		if cutoff.IsZero() || e.Created.Before(cutoff) {
			doomed[e.Key] = true
		}
		parentOf[e.Key] = e.Parent
	}
	WithDescendants(doomed, parentOf)
	var removed []Entry
	var errs []error
	// Newest first: a child is always newer than its parent.
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		if !doomed[e.Key] {
			continue
		}
		if err := s.Remove(ctx, e); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e)
	}
	return removed, errors.Join(errs...)
}

// LongestPrefix returns the length of the longest prefix of keys (in
// chain order) that is cached, and the entry of its last step: that of
// the deepest key with an entry. Keys chain, so an entry stands for the
// whole prefix it ends; the entries before it may be missing (a shared
// cache installs only the deepest checkpoint of a builder whose
// checkpoints each hold the whole machine).
func (s *Store) LongestPrefix(keys []Key) (int, Entry, error) {
	for i := len(keys) - 1; i >= 0; i-- {
		e, ok, err := s.Get(keys[i])
		if err != nil {
			return 0, Entry{}, err
		}
		if ok {
			return i + 1, e, nil
		}
	}
	return 0, Entry{}, nil
}

// WithDescendants adds to doomed, transitively, every checkpoint whose
// parent is doomed: a checkpoint is of no use without the one it was
// made on. parentOf maps each key to its parent ("" for a root).
func WithDescendants(doomed map[Key]bool, parentOf map[Key]Key) {
	for grew := true; grew; {
		grew = false
		for k, p := range parentOf {
			if !doomed[k] && p != "" && doomed[p] {
				doomed[k], grew = true, true
			}
		}
	}
}
