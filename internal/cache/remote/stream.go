package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// installStream hands e's wanted files to a Streamer as they download (see
// Store.OpenFile): nothing is written to disk. When a file read is
// damaged, that is the install's error (ErrCorrupt) whatever the porter
// made of it, and the damaged blob is removed as install does.
func (l *Layer) installStream(ctx context.Context, local *cache.Store, p cache.Streamer, e cache.Entry, wanted []File, parent cache.Entry) (string, error) {
	byRole := map[string]File{}
	for _, f := range wanted {
		byRole[f.Role] = f
	}
	var (
		mu      sync.Mutex
		damaged error
		opened  []io.Closer
	)
	note := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if damaged == nil && errors.Is(err, ErrCorrupt) {
			damaged = err
		}
	}
	open := func(role string) (io.ReadCloser, error) {
		f, ok := byRole[role]
		if !ok {
			return nil, fmt.Errorf("the checkpoint has no file %q", role)
		}
		r, err := l.store.OpenFile(ctx, f)
		if err != nil {
			note(err)
			return nil, err
		}
		mu.Lock()
		opened = append(opened, r)
		mu.Unlock()
		return notingReader{r, note}, nil
	}
	ref, err := p.InstallStream(ctx, local, e, parent, open)
	for _, r := range opened { // closed by the porter already, unless it failed to
		r.Close()
	}
	if err != nil && damaged != nil {
		l.removeDamaged(ctx, damaged)
		return "", damaged
	}
	return ref, err
}

// notingReader reports the errors of a file's reads.
type notingReader struct {
	io.ReadCloser
	note func(error)
}

func (r notingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		r.note(err)
	}
	return n, err
}

// removeDamaged removes the blob err names as damaged, in readwrite mode,
// so that the next runner to store that content uploads it again (blobs
// are skipped when present).
func (l *Layer) removeDamaged(ctx context.Context, err error) {
	var damaged *CorruptError
	if errors.As(err, &damaged) && l.write {
		l.store.deleteBlob(ctx, damaged.Digest)
	}
}
