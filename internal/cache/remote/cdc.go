package remote

import (
	"bytes"
	"io"
)

// Content-defined chunking: a file is cut where a rolling hash of its last
// bytes matches a pattern, so that a cut depends only on the bytes around
// it. Content inserted or appended moves the cuts after it along with the
// bytes; the chunks before and after the change are the same as before
// and are stored once. A docker checkpoint is one cumulative layer (step
// 1's changes, then 1+2, ...) and a qemu layer a disk's changed clusters:
// most of their chunks are another checkpoint's.
//
// The hash is a gear hash (h = h<<1 + gear[byte]): its top bits depend on
// the last 64 bytes only. Cuts follow FastCDC's normalized chunking: no
// cut before minChunk; up to avgChunk a stricter pattern, after it a
// looser one, so sizes cluster around avgChunk; a cut at maxChunk at the
// latest.
//
// Sizes: 2 MiB on average is small against the 16 MiB and larger steps of
// a build (a change costs the chunk or two around it) and large enough
// that a request's fixed cost (a PUT, a HEAD) stays small beside its
// upload; 8 MiB at most keeps a chunk one single PUT, held in memory
// a few at a time (memory stays flat for any file size).
const (
	minChunk = 512 << 10
	avgChunk = 2 << 20
	maxChunk = 8 << 20

	// Masks of the hash's top bits: 22 bits (one cut in 4 MiB) before
	// avgChunk, 20 bits (one in 1 MiB) after it.
	maskStrict = uint64(1<<22-1) << (64 - 22)
	maskLoose  = uint64(1<<20-1) << (64 - 20)
)

// gear maps each byte to a random 64-bit value. The values are fixed
// (made from a constant seed): changing them changes every cut, which
// loses the sharing of chunks with what earlier versions stored (never
// correctness: a chunk is named by its content).
var gear = func() (t [256]uint64) {
	x := uint64(0x696d676275696c64) // "imgbuild"
	for i := range t {
		// splitmix64
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		t[i] = z ^ (z >> 31)
	}
	return t
}()

// cut returns the length of the chunk that starts data. data holds the
// rest of the file or at least maxChunk bytes of it: a cut at len(data)
// when it holds less is the file's end.
func cut(data []byte) int {
	n := min(len(data), maxChunk)
	if n <= minChunk {
		return n
	}
	data = data[:n]
	normal := min(avgChunk, n)
	var h uint64
	i := minChunk
	for ; i < normal; i++ {
		h = h<<1 + gear[data[i]]
		if h&maskStrict == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		h = h<<1 + gear[data[i]]
		if h&maskLoose == 0 {
			return i + 1
		}
	}
	return n
}

// splitter reads a file's content-defined chunks in order.
type splitter struct {
	r          io.Reader
	buf        []byte // 2*maxChunk: a chunk is moved down only once in a while
	start, end int    // buf[start:end] is read and not yet cut
	eof        bool
}

func newSplitter(r io.Reader) *splitter {
	return &splitter{r: r, buf: make([]byte, 2*maxChunk)}
}

// next returns the next chunk, a slice of its own, or io.EOF after the last.
func (s *splitter) next() ([]byte, error) {
	if s.end-s.start < maxChunk && !s.eof {
		if len(s.buf)-s.start < maxChunk {
			s.end = copy(s.buf, s.buf[s.start:s.end])
			s.start = 0
		}
		n, err := io.ReadAtLeast(s.r, s.buf[s.end:], s.start+maxChunk-s.end)
		s.end += n
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			s.eof = true
		case err != nil:
			return nil, err
		}
	}
	if s.start == s.end {
		return nil, io.EOF
	}
	n := cut(s.buf[s.start:s.end])
	chunk := bytes.Clone(s.buf[s.start : s.start+n])
	s.start += n
	return chunk, nil
}
