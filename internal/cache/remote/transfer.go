package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// chunksInFlight is how many chunks move at once each way: enough to
// overlap one request's wait with another's transfer and compression,
// few enough that memory stays flat (each is at most maxChunk, held with
// its compressed form).
const chunksInFlight = 2

// PutFile stores the file at path as content-defined chunks, each a blob,
// uploading only those not stored already, and returns its description.
// The file is read once, a few chunks at a time. Each chunk is a single
// PUT, which the server stores whole or not at all: a cancelled upload
// leaves no partial object (nor a multipart upload) behind.
func (s *Store) PutFile(ctx context.Context, role, path string) (File, error) {
	in, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer in.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg     sync.WaitGroup
		slots  = make(chan struct{}, chunksInFlight)
		queued = map[string]bool{} // a chunk that recurs in the file (zeros) goes once
	)
	f := File{Role: role}
	whole := sha256.New()
	sp := newSplitter(in)
	for ctx.Err() == nil {
		data, err := sp.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			cancel(fmt.Errorf("reading %s: %w", path, err))
			break
		}
		whole.Write(data)
		c := Chunk{Digest: cache.Digest(data), Size: int64(len(data))}
		f.Chunks = append(f.Chunks, c)
		f.Size += c.Size
		if queued[c.Digest] || s.isKnown(c.Digest) {
			continue
		}
		queued[c.Digest] = true
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := s.putChunk(ctx, c.Digest, data); err != nil {
				cancel(err)
			}
		}()
	}
	if len(f.Chunks) == 0 && ctx.Err() == nil { // empty: one empty chunk
		c := Chunk{Digest: cache.Digest(nil)}
		f.Chunks = append(f.Chunks, c)
		if err := s.putChunk(ctx, c.Digest, nil); err != nil {
			cancel(err)
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return File{}, fmt.Errorf("uploading %s: %w", filepath.Base(path), err)
	}
	f.Digest = "sha256:" + hex.EncodeToString(whole.Sum(nil))
	return f, nil
}

// putChunk stores one chunk's blob unless it is stored already.
func (s *Store) putChunk(ctx context.Context, digest string, data []byte) error {
	if s.isKnown(digest) {
		return nil
	}
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.key(blobName(digest))})
	if err == nil {
		// Stored already: marked, so that a prune by age running before
		// this runner's entry names it does not take it away.
		if err := s.markReused(ctx, digest); err != nil {
			return err
		}
		s.remember(digest)
		return nil
	}
	if !isNotFound(err) {
		return err
	}
	z := s.enc.EncodeAll(data, make([]byte, 0, s.enc.MaxEncodedSize(len(data))))
	data = nil // garbage from here on: only z is sent
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           s.key(blobName(digest)),
		Body:          bytes.NewReader(z),
		ContentLength: aws.Int64(int64(len(z))),
	})
	if err != nil {
		return err
	}
	s.remember(digest)
	return nil
}

func (s *Store) isKnown(digest string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.known[digest]
	return ok && time.Since(at) < blobGrace/2
}

func (s *Store) remember(digest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known == nil {
		s.known = map[string]time.Time{}
	}
	s.known[digest] = time.Now()
}

// deleteBlob removes a blob (damaged, or pruned): the next runner to
// store that content uploads it again.
func (s *Store) deleteBlob(ctx context.Context, digest string) error {
	s.mu.Lock()
	delete(s.known, digest)
	s.mu.Unlock()
	return s.deleteObject(ctx, blobName(digest))
}

// FetchFile downloads f into dst (created, mode 0600) and verifies it
// (see OpenFile). A damaged or missing blob is ErrCorrupt (a
// *CorruptError naming it); dst is removed on any error.
func (s *Store) FetchFile(ctx context.Context, f File, dst string) (err error) {
	r, err := s.OpenFile(ctx, f)
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

// OpenFile streams f's content: its chunks are downloaded a few ahead,
// in parallel, and each is verified against its digest before Read
// returns any of it; the whole file's size and digest are verified before
// Read returns io.EOF. A mismatch, or a blob that is missing or does not
// decompress, is an error from Read (ErrCorrupt), never a clean end.
// Close stops the downloads.
func (s *Store) OpenFile(ctx context.Context, f File) (io.ReadCloser, error) {
	if err := checkChunks(f); err != nil {
		return nil, err
	}
	if len(f.Chunks) == 0 {
		return s.openWhole(ctx, f)
	}
	ctx, cancel := context.WithCancel(ctx)
	// pending holds the chunk downloading while Read returns the one
	// before: two chunks are in memory at most.
	r := &chunkReader{cancel: cancel, file: f, whole: sha256.New(), pending: make(chan chan fetched, 1)}
	go func() {
		defer close(r.pending)
		for _, c := range f.Chunks {
			got := make(chan fetched, 1)
			select {
			case r.pending <- got:
			case <-ctx.Done():
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				data, err := s.getChunk(ctx, c)
				got <- fetched{data, err}
			}()
		}
	}()
	return r, nil
}

// checkChunks refuses an entry whose chunks cannot make up its file.
func checkChunks(f File) error {
	var sum int64
	for _, c := range f.Chunks {
		if !validDigest.MatchString(c.Digest) || c.Size < 0 || c.Size > maxChunk {
			return fmt.Errorf("%w: the entry names a chunk %q of %d bytes", ErrCorrupt, c.Digest, c.Size)
		}
		sum += c.Size
	}
	if len(f.Chunks) > 0 && sum != f.Size {
		return fmt.Errorf("%w: the entry's chunks of %s add up to %d bytes, not %d", ErrCorrupt, f.Digest, sum, f.Size)
	}
	return nil
}

// getChunk downloads one chunk and verifies it.
func (s *Store) getChunk(ctx context.Context, c Chunk) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(blobName(c.Digest))})
	if isNotFound(err) {
		return nil, &CorruptError{Digest: c.Digest, Reason: "is missing"}
	}
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", blobName(c.Digest), err)
	}
	defer out.Body.Close()
	// A chunk compresses to little more than its size at worst.
	bound := int64(s.enc.MaxEncodedSize(int(c.Size)))
	// With the length the server announced (and a plausible one), a body
	// that ends before it is a connection cut short, not damage: the blob
	// is kept. Without it, at most bound+1 bytes are read.
	length := aws.ToInt64(out.ContentLength)
	announced := out.ContentLength != nil && length <= bound
	size := bound + 1
	if announced {
		size = length
	}
	z := make([]byte, size)
	n, err := io.ReadFull(out.Body, z)
	switch {
	case err == nil && !announced:
		return nil, &CorruptError{Digest: c.Digest, Reason: fmt.Sprintf("is larger than a chunk of %d bytes compresses to", c.Size)}
	case err == io.ErrUnexpectedEOF && announced:
		return nil, fmt.Errorf("downloading %s: the connection ended after %d of its %d bytes", blobName(c.Digest), n, length)
	case err != nil && err != io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("downloading %s: %w", blobName(c.Digest), err)
	}
	data, err := s.dec.DecodeAll(z[:n], make([]byte, 0, c.Size))
	if err != nil {
		return nil, &CorruptError{Digest: c.Digest, Reason: "does not decompress: " + err.Error()}
	}
	if got := cache.Digest(data); int64(len(data)) != c.Size || got != c.Digest {
		return nil, &CorruptError{Digest: c.Digest, Reason: fmt.Sprintf("holds %d bytes with digest %s, not %d bytes", len(data), got, c.Size)}
	}
	return data, nil
}

type fetched struct {
	data []byte
	err  error
}

// chunkReader reads a chunked file's verified chunks in order.
type chunkReader struct {
	cancel  context.CancelFunc
	file    File
	pending chan chan fetched // the chunks under way, in order
	wg      sync.WaitGroup
	cur     []byte
	whole   hash.Hash
	n       int64
	err     error // sticky: io.EOF once the whole file is verified
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		got, ok := <-r.pending
		if !ok {
			r.err = verifyWhole(r.file, r.n, r.whole)
			continue
		}
		g := <-got
		if g.err != nil {
			r.err = g.err
			continue
		}
		r.cur = g.data
		r.whole.Write(r.cur)
		r.n += int64(len(r.cur))
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *chunkReader) Close() error {
	r.cancel()
	for range r.pending {
	}
	r.wg.Wait()
	if r.err == nil {
		r.err = errors.New("read after Close")
	}
	return nil
}

// verifyWhole returns io.EOF when n bytes with digest h are f, or ErrCorrupt.
func verifyWhole(f File, n int64, h hash.Hash) error {
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); n != f.Size || got != f.Digest {
		return fmt.Errorf("%w: the file holds %d bytes with digest %s, not %d bytes with %s", ErrCorrupt, n, got, f.Size, f.Digest)
	}
	return io.EOF
}

// openWhole streams a file of format 1, stored as one blob of any size,
// through a streaming decoder.
func (s *Store) openWhole(ctx context.Context, f File) (io.ReadCloser, error) {
	if !validDigest.MatchString(f.Digest) {
		return nil, fmt.Errorf("%w: the entry names a file %q", ErrCorrupt, f.Digest)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(blobName(f.Digest))})
	if isNotFound(err) {
		return nil, &CorruptError{Digest: f.Digest, Reason: "is missing"}
	}
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", blobName(f.Digest), err)
	}
	body := &watchedReader{r: out.Body}
	dec, err := zstd.NewReader(body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		out.Body.Close()
		return nil, err
	}
	return &wholeReader{file: f, body: out.Body, watched: body, dec: dec, whole: sha256.New()}, nil
}

type wholeReader struct {
	file    File
	body    io.Closer
	watched *watchedReader
	dec     *zstd.Decoder
	whole   hash.Hash
	n       int64
	err     error
}

func (r *wholeReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.dec.Read(p)
	r.whole.Write(p[:n])
	r.n += int64(n)
	switch {
	case err == io.EOF:
		if r.err = verifyWhole(r.file, r.n, r.whole); r.err != io.EOF {
			r.err = &CorruptError{Digest: r.file.Digest, Reason: "does not hold the file: " + r.err.Error()}
		}
	case err != nil && r.watched.err != nil: // the connection, not the content
		r.err = fmt.Errorf("downloading %s: %w", blobName(r.file.Digest), r.watched.err)
	case err != nil:
		r.err = &CorruptError{Digest: r.file.Digest, Reason: "does not decompress: " + err.Error()}
	}
	return n, r.err
}

func (r *wholeReader) Close() error {
	r.dec.Close()
	return r.body.Close()
}

// watchedReader remembers the error of the reader under the decoder, to
// tell a dropped connection from damaged content.
type watchedReader struct {
	r   io.Reader
	err error
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF {
		w.err = err
	}
	return n, err
}
