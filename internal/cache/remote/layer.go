package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// UI is where the shared cache reports what it does.
type UI = cache.UI

// Layer is the shared cache behind the local one: Pull brings the
// checkpoints the local cache lacks (read-through), Push stores the ones
// the object store lacks (write-through). It never fails a build: the
// first error it cannot get past is reported once as a warning and the
// layer turns itself off for the rest of the run.
type Layer struct {
	store    *Store
	write    bool   // -cache-mode readwrite
	version  string // the imgbuild recorded in the entries it writes
	mu       sync.Mutex
	disabled bool
}

// NewLayer wraps store; write is false for -cache-mode read.
func NewLayer(store *Store, write bool, version string) *Layer {
	return &Layer{store: store, write: write, version: version}
}

// URL is the shared cache's s3:// URL.
func (l *Layer) URL() string { return l.store.URL() }

// off reports the error once and turns the layer off.
func (l *Layer) off(u UI, what string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.disabled {
		return
	}
	l.disabled = true
	u.Error(fmt.Sprintf("Warning: the shared cache %s is not used for the rest of this build: %s: %s", l.store.URL(), what, err))
}

func (l *Layer) on() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.disabled
}

// Pull extends the local prefix: keys[:have] are in the local store (and
// intact); the entries after them found in the object store are
// downloaded, verified and installed, in order, until one is missing. It
// returns the new length of the local prefix. A damaged object is
// reported, it and its entry removed (readwrite) so that the step is
// built and stored again, and the prefix ends before it.
func (l *Layer) Pull(ctx context.Context, local *cache.Store, keys []cache.Key, have int, u UI) int {
	var parent cache.Entry
	if have > 0 {
		p, ok, err := local.Get(keys[have-1])
		if err != nil || !ok {
			return have
		}
		parent = p
	}
	// Files are fetched once per Pull however many checkpoints name them
	// (a docker base layer): kept here by digest, linked for each install.
	fetched, err := os.MkdirTemp(local.DataDir(), cache.WorkingPrefix+"pull-")
	if err != nil {
		u.Error(fmt.Sprintf("Warning: cannot download checkpoints: %s", err))
		return have
	}
	defer os.RemoveAll(fetched)
	for i := have; i < len(keys) && l.on(); i++ {
		e, found, err := l.store.Get(ctx, keys[i])
		if err != nil {
			l.off(u, "reading entry "+keys[i].Short(), err)
			return i
		}
		if !found {
			return i
		}
		porter := cache.PorterFor(e.Builder)
		if porter == nil {
			return i
		}
		u.Message(fmt.Sprintf("Downloading checkpoint %s (provisioner %d, %s) from %s", e.Key.Short(), e.Step, e.StepName, l.store.URL()))
		ref, err := l.install(ctx, local, fetched, porter, e, parent)
		if errors.Is(err, cache.ErrDiverged) {
			u.Message(fmt.Sprintf("Checkpoint %s in %s was %s: the steps from %d on are built here", e.Key.Short(), l.store.URL(), cache.ErrDiverged, e.Step))
			return i
		}
		if errors.Is(err, ErrCorrupt) {
			u.Error(fmt.Sprintf("Warning: checkpoint %s in %s is damaged and is not used (the step runs again): %s", e.Key.Short(), l.store.URL(), err))
			if l.write {
				if derr := l.store.DeleteEntry(ctx, e.Key); derr != nil {
					l.off(u, "removing the damaged entry "+e.Key.Short(), derr)
				}
			}
			return i
		}
		if err != nil {
			if ctx.Err() != nil {
				return i
			}
			l.off(u, "downloading checkpoint "+e.Key.Short(), err)
			return i
		}
		le := e.Entry
		le.Ref = ref
		le.Created = time.Now().UTC()
		if err := local.Put(le); err != nil {
			u.Error(fmt.Sprintf("Recording the downloaded checkpoint %s: %s", e.Key.Short(), err))
			return i
		}
		if l.write {
			l.store.MarkUsed(ctx, e.Key) // for prune --older-than; a failure only ages it
		}
		parent = le
	}
	return len(keys)
}

var (
	validDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	validRole   = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)
)

// install downloads e's files into working names in the local data folder
// and hands them to the porter; what is left behind on failure is removed
// (and, after a kill, swept as a working file).
func (l *Layer) install(ctx context.Context, local *cache.Store, fetched string, p cache.Porter, e Entry, parent cache.Entry) (string, error) {
	files := map[string]string{}
	defer func() {
		for _, f := range files {
			os.Remove(f)
		}
	}()
	for _, f := range e.Files {
		if !validDigest.MatchString(f.Digest) || !validRole.MatchString(f.Role) {
			return "", fmt.Errorf("%w: entry %s names file %q as %q", ErrCorrupt, e.Key.Short(), f.Digest, f.Role)
		}
		have := filepath.Join(fetched, strings.TrimPrefix(f.Digest, "sha256:"))
		// Fetched before for another checkpoint: still that content? (A
		// porter may change the file it was given, which is a link.)
		if d, _, err := fileDigest(have); err == nil && d != f.Digest {
			os.Remove(have)
		}
		if _, err := os.Stat(have); err != nil {
			if err := l.store.FetchFile(ctx, f, have); err != nil {
				if errors.Is(err, ErrCorrupt) && l.write {
					// Gone, so that the next runner to store this content
					// uploads it again (blobs are skipped when present).
					l.store.deleteObject(ctx, blobName(f.Digest))
				}
				return "", err
			}
		}
		tmp := filepath.Join(local.DataDir(), cache.WorkingPrefix+"download-"+filepath.Base(fetched)+"-"+f.Role)
		os.Remove(tmp)
		if err := os.Link(have, tmp); err != nil {
			return "", err
		}
		files[f.Role] = tmp
	}
	ref, err := p.Install(ctx, local, e.Entry, parent, files)
	if err == nil {
		files = nil // the porter took them
	}
	return ref, err
}

// Push stores in the object store the checkpoints of keys that the local
// store has and the object store lacks: files first, then the entry, so
// that an entry is only ever seen complete. In read mode it does nothing.
func (l *Layer) Push(ctx context.Context, local *cache.Store, keys []cache.Key, u UI) {
	if !l.write {
		return
	}
	pushed := 0
	// The stored chain so far: the name of the last stored checkpoint, and
	// that of this runner's own copy of it.
	storedRef, ownRef := "", ""
	for _, k := range keys {
		if !l.on() || ctx.Err() != nil {
			return
		}
		le, ok, err := local.Get(k)
		if err != nil || !ok {
			break // the chain ends here
		}
		porter := cache.PorterFor(le.Builder)
		if porter == nil {
			return
		}
		re, found, err := l.store.Get(ctx, k)
		if err != nil {
			l.off(u, "reading entry "+k.Short(), err)
			return
		}
		if _, stacked := porter.(cache.Stacker); stacked && storedRef != ownRef {
			break // stored: another runner's copy of the parent; ours cannot go on it
		}
		if found {
			storedRef, ownRef = re.Ref, filepath.Base(le.Ref)
			continue
		}
		le.ParentRef = ownRef
		if !l.push(ctx, local, porter, le, u) {
			return
		}
		storedRef, ownRef = filepath.Base(le.Ref), filepath.Base(le.Ref)
		pushed++
	}
	if pushed > 0 {
		u.Message(fmt.Sprintf("Shared %d checkpoint(s) in %s", pushed, l.store.URL()))
	}
}

// push stores one checkpoint: its files, then its entry.
func (l *Layer) push(ctx context.Context, local *cache.Store, porter cache.Porter, le cache.Entry, u UI) bool {
	files, done, err := porter.Files(ctx, local, le)
	if done != nil {
		defer done()
	}
	if err != nil {
		u.Error(fmt.Sprintf("Warning: checkpoint %s is not shared: %s", le.Key.Short(), err))
		return false
	}
	re := Entry{Entry: le, Version: l.version}
	re.Ref = filepath.Base(le.Ref) // the writer's; for humans only
	for _, role := range sortedRoles(files) {
		f, err := l.store.PutFile(ctx, role, files[role])
		if err != nil {
			l.off(u, "uploading checkpoint "+le.Key.Short(), err)
			return false
		}
		re.Files = append(re.Files, f)
	}
	if _, err := l.store.PutEntry(ctx, re); err != nil {
		l.off(u, "recording checkpoint "+le.Key.Short(), err)
		return false
	}
	return true
}

func sortedRoles(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
