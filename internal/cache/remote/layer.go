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
	// seen maps the keys whose entries this run found or stored in the
	// object store to their writers' refs.
	seen map[cache.Key]string

	leaseMu sync.Mutex
	leases  map[cache.Key]string // the leases this runner holds, by key: their ETags
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
// intact); the entries after them found in the object store, up to the
// first missing one, are downloaded, verified and installed. It returns
// the new length of the local prefix. A checkpoint that holds the whole
// machine (a docker image) needs nothing before it, so only the deepest
// is installed, or, when that fails, the deepest that installs; stacked
// checkpoints (qemu layers) are installed in order, each on the one
// before. A damaged object is reported, it and its entry removed
// (readwrite) so that the step is built and stored again, and the prefix
// ends before it.
func (l *Layer) Pull(ctx context.Context, local *cache.Store, keys []cache.Key, have int, u UI) int {
	var parent cache.Entry
	if have > 0 {
		p, ok, err := local.Get(keys[have-1])
		if err != nil || !ok {
			return have
		}
		parent = p
	}
	found := l.stored(ctx, keys[have:], u)
	if len(found) == 0 {
		return have
	}
	porter := cache.PorterFor(found[0].Builder)
	if porter == nil {
		return have
	}
	// Files are fetched once per Pull however many checkpoints name them
	// (a docker base layer): kept here by digest, linked for each install.
	fetched, err := os.MkdirTemp(local.DataDir(), cache.WorkingPrefix+"pull-")
	if err != nil {
		u.Error(fmt.Sprintf("Warning: cannot download checkpoints: %s", err))
		return have
	}
	defer os.RemoveAll(fetched)
	if _, stacked := porter.(cache.Stacker); !stacked {
		for j := len(found) - 1; j >= 0; j-- {
			if _, err := l.pullOne(ctx, local, fetched, porter, found[j], parent, true, u); err == nil {
				if l.write {
					// Used too, through it: prune --older-than removes a
					// checkpoint with the ones before it.
					for _, e := range found[:j] {
						l.store.MarkUsed(ctx, e.Key)
					}
				}
				return have + j + 1
			} else if !errors.Is(err, ErrCorrupt) {
				return have
			}
		}
		return have
	}
	for j, e := range found {
		le, err := l.pullOne(ctx, local, fetched, porter, e, parent, j == len(found)-1, u)
		if err != nil {
			return have + j
		}
		parent = le
	}
	return have + len(found)
}

// stored returns the object store's entries for keys, in order, up to the
// first one it lacks.
func (l *Layer) stored(ctx context.Context, keys []cache.Key, u UI) []Entry {
	var found []Entry
	for _, k := range keys {
		if !l.on() {
			break
		}
		e, ok, err := l.store.Get(ctx, k)
		if err != nil {
			l.off(u, "reading entry "+k.Short(), err)
			break
		}
		if !ok {
			break
		}
		found = append(found, e)
	}
	return found
}

// pullOne downloads and installs one checkpoint and records it in the
// local store. Whatever goes wrong is said here; the error tells the
// caller whether an earlier checkpoint may still do (ErrCorrupt).
func (l *Layer) pullOne(ctx context.Context, local *cache.Store, fetched string, porter cache.Porter, e Entry, parent cache.Entry, deepest bool, u UI) (cache.Entry, error) {
	u.Message(fmt.Sprintf("Downloading checkpoint %s (provisioner %d, %s) from %s", e.Key.Short(), e.Step, e.StepName, l.store.URL()))
	ref, err := l.install(ctx, local, fetched, porter, e, parent, deepest)
	switch {
	case errors.Is(err, cache.ErrDiverged):
		u.Message(fmt.Sprintf("Checkpoint %s in %s was %s: the steps from %d on are built here", e.Key.Short(), l.store.URL(), cache.ErrDiverged, e.Step))
		return cache.Entry{}, err
	case errors.Is(err, ErrCorrupt):
		u.Error(fmt.Sprintf("Warning: checkpoint %s in %s is damaged and is not used (the step runs again): %s", e.Key.Short(), l.store.URL(), err))
		l.forget(e.Key)
		if l.write {
			if derr := l.store.DeleteEntry(ctx, e.Key); derr != nil {
				l.off(u, "removing the damaged entry "+e.Key.Short(), derr)
			}
		}
		return cache.Entry{}, err
	case err != nil:
		if ctx.Err() == nil {
			l.off(u, "downloading checkpoint "+e.Key.Short(), err)
		}
		return cache.Entry{}, err
	}
	le := e.Entry
	le.Ref = ref
	le.Created = time.Now().UTC()
	if err := local.Put(le); err != nil {
		u.Error(fmt.Sprintf("Recording the downloaded checkpoint %s: %s", e.Key.Short(), err))
		return cache.Entry{}, err
	}
	if l.write {
		l.store.MarkUsed(ctx, e.Key) // for prune --older-than; a failure only ages it
	}
	return le, nil
}

var (
	validDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	validRole   = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)
)

// wantedFiles returns the files of e the porter wants on this runner (a
// Chooser may leave some out); an entry naming a file oddly is damaged.
func wantedFiles(local *cache.Store, p cache.Porter, e Entry, deepest bool) ([]File, error) {
	chooser, _ := p.(cache.Chooser)
	var wanted []File
	for _, f := range e.Files {
		if !validDigest.MatchString(f.Digest) || !validRole.MatchString(f.Role) {
			return nil, fmt.Errorf("%w: entry %s names file %q as %q", ErrCorrupt, e.Key.Short(), f.Digest, f.Role)
		}
		if chooser == nil || chooser.Wants(local, f.Role, deepest) {
			wanted = append(wanted, f)
		}
	}
	return wanted, nil
}

// install downloads e's files into working names in the local data folder
// and hands them to the porter (a Streamer gets them as they download);
// what is left behind on failure is removed (and, after a kill, swept as a
// working file).
func (l *Layer) install(ctx context.Context, local *cache.Store, fetched string, p cache.Porter, e Entry, parent cache.Entry, deepest bool) (string, error) {
	wanted, err := wantedFiles(local, p, e, deepest)
	if err != nil {
		return "", err
	}
	if st, ok := p.(cache.Streamer); ok {
		return l.installStream(ctx, local, st, e.Entry, wanted, parent)
	}
	files := map[string]string{}
	defer func() {
		for _, f := range files {
			os.Remove(f)
		}
	}()
	for _, f := range wanted {
		have := filepath.Join(fetched, strings.TrimPrefix(f.Digest, "sha256:"))
		// Fetched before for another checkpoint: still that content? (A
		// porter may change the file it was given, which is a link.)
		if d, _, err := fileDigest(have); err == nil && d != f.Digest {
			os.Remove(have)
		}
		if _, err := os.Stat(have); err != nil {
			if err := l.store.FetchFile(ctx, f, have); err != nil {
				l.removeDamaged(ctx, err)
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
// A build calls it after each checkpoint it makes and at its end, so
// what it found or stored before is remembered rather than asked again.
func (l *Layer) Push(ctx context.Context, local *cache.Store, keys []cache.Key, u UI) {
	if !l.write {
		return
	}
	// The stored chain so far: the name of the last stored checkpoint, and
	// that of this runner's own copy of it ("" when it has none).
	storedRef, ownRef := "", ""
	for _, k := range keys {
		if !l.on() || ctx.Err() != nil {
			return
		}
		le, have, err := local.Get(k)
		if err != nil {
			break
		}
		ref, found, err := l.storedRef(ctx, k)
		if err != nil {
			l.off(u, "reading entry "+k.Short(), err)
			return
		}
		if found {
			l.dropHeld(ctx, k) // stored meanwhile (by another runner): nothing to hold
			storedRef, ownRef = ref, ""
			if have {
				ownRef = filepath.Base(le.Ref)
			}
			continue
		}
		if !have {
			break // the chain ends here
		}
		porter := cache.PorterFor(le.Builder)
		if porter == nil {
			return
		}
		if _, stacked := porter.(cache.Stacker); stacked && storedRef != ownRef {
			break // stored: another runner's copy of the parent; ours cannot go on it
		}
		le.ParentRef = ownRef
		stored, ok := l.push(ctx, local, porter, le, u)
		if !ok {
			return
		}
		storedRef, ownRef = stored, filepath.Base(le.Ref)
		l.remember(k, storedRef)
		l.dropHeld(ctx, k)
		u.Message(fmt.Sprintf("Checkpoint %s (provisioner %d) shared in %s", k.Short(), le.Step, l.store.URL()))
	}
}

// storedRef returns the writer's ref of k's entry in the object store, if
// it has one: remembered once seen, since entries are not rewritten.
func (l *Layer) storedRef(ctx context.Context, k cache.Key) (string, bool, error) {
	l.mu.Lock()
	ref, ok := l.seen[k]
	l.mu.Unlock()
	if ok {
		return ref, true, nil
	}
	e, found, err := l.store.Get(ctx, k)
	if err != nil || !found {
		return "", false, err
	}
	l.remember(k, e.Ref)
	return e.Ref, true, nil
}

func (l *Layer) forget(k cache.Key) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.seen, k)
}

func (l *Layer) remember(k cache.Key, ref string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[cache.Key]string{}
	}
	l.seen[k] = ref
}

// push stores one checkpoint: its files, then its entry. It returns the
// ref the stored entry names: this runner's, or that of a runner that
// stored the same step first.
func (l *Layer) push(ctx context.Context, local *cache.Store, porter cache.Porter, le cache.Entry, u UI) (string, bool) {
	files, done, err := porter.Files(ctx, local, le)
	if done != nil {
		defer done()
	}
	if err != nil {
		u.Error(fmt.Sprintf("Warning: checkpoint %s is not shared: %s", le.Key.Short(), err))
		return "", false
	}
	re := Entry{Entry: le, Version: l.version}
	re.Ref = filepath.Base(le.Ref) // the writer's: tells runners' copies apart
	for _, role := range sortedRoles(files) {
		f, err := l.store.PutFile(ctx, role, files[role])
		if err != nil {
			l.off(u, "uploading checkpoint "+le.Key.Short(), err)
			return "", false
		}
		re.Files = append(re.Files, f)
	}
	written, err := l.store.PutEntry(ctx, re)
	if err != nil {
		l.off(u, "recording checkpoint "+le.Key.Short(), err)
		return "", false
	}
	if !written {
		if first, found, err := l.store.Get(ctx, le.Key); err == nil && found {
			return first.Ref, true
		}
	}
	return re.Ref, true
}

func sortedRoles(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
