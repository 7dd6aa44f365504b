// Package stream holds the small pieces every streaming transfer needs:
// readers and writers that stop when a context ends, and a way to learn a
// stream's size up front without holding it in memory.
package stream

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/imgbuild/imgbuild/internal/tempdir"
)

// Reader returns r, failing reads once ctx ends, so that a long copy
// stops promptly on Ctrl-C.
func Reader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

// Writer returns w, failing writes once ctx ends.
func Writer(ctx context.Context, w io.Writer) io.Writer { return ctxWriter{ctx, w} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.w.Write(p)
}

// Sized returns r with the number of bytes it will give, for protocols
// that announce a size first (scp, tar headers). Regular files, in-memory
// readers, limited readers and readers with a Size method know it; any
// other stream is spooled to a temporary file (disk, not memory), which
// cleanup removes. cleanup is never nil.
func Sized(r io.Reader) (sr io.Reader, size int64, cleanup func(), err error) {
	cleanup = func() {}
	switch v := r.(type) {
	case interface{ Len() int }:
		return r, int64(v.Len()), cleanup, nil
	case *os.File:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() {
			if off, err := v.Seek(0, io.SeekCurrent); err == nil {
				return r, st.Size() - off, cleanup, nil
			}
		}
	case *io.LimitedReader:
		return r, v.N, cleanup, nil
	case interface{ Size() int64 }:
		if n := v.Size(); n >= 0 { // -1: unknown, spool below
			return r, n, cleanup, nil
		}
	}
	tmp, removeTmp, err := tempdir.File("imgbuild-upload-")
	if err != nil {
		return nil, 0, cleanup, fmt.Errorf("spooling the upload to a temporary file: %w", err)
	}
	remove := func() { _ = removeTmp() }
	n, err := io.Copy(tmp, r)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		remove()
		return nil, 0, cleanup, fmt.Errorf("spooling the upload to a temporary file: %w", err)
	}
	return tmp, n, remove, nil
}
