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

// cutter finds where a chunk ends, in steps as its bytes are read: the
// bytes it has hashed are not hashed again.
type cutter struct {
	h    uint64
	next int // the offset in the chunk of the next byte to hash
}

// find returns the length of the chunk whose first bytes data holds, and
// whether its end is found; when it is not, more must be read (or, at
// the file's end, the chunk is all of data).
func (c *cutter) find(data []byte) (int, bool) {
	n := min(len(data), maxChunk)
	data = data[:n]
	h, i := c.h, max(c.next, minChunk)
	for normal := min(avgChunk, n); i < normal; i++ {
		h = h<<1 + gear[data[i]]
		if h&maskStrict == 0 {
			return i + 1, true
		}
	}
	for ; i < n; i++ {
		h = h<<1 + gear[data[i]]
		if h&maskLoose == 0 {
			return i + 1, true
		}
	}
	c.h, c.next = h, i
	return n, n == maxChunk
}

// cut returns the length of the chunk that starts data, the rest of a file.
func cut(data []byte) int {
	var c cutter
	n, _ := c.find(data)
	return n
}

// readStep is how much a splitter reads at a time: a chunk ends in the
// last step read, so less than a step is moved down after each chunk.
const readStep = 1 << 20

// splitter reads a file's content-defined chunks in order.
type splitter struct {
	r   io.Reader
	buf []byte // the next chunk's first n bytes
	n   int
	eof bool
}

func newSplitter(r io.Reader) *splitter { return &splitter{r: r, buf: make([]byte, maxChunk)} }

// next returns the next chunk, a slice of its own, or io.EOF after the last.
func (s *splitter) next() ([]byte, error) {
	var c cutter
	for {
		n, found := c.find(s.buf[:s.n])
		if found || s.eof {
			if n == 0 {
				return nil, io.EOF
			}
			chunk := bytes.Clone(s.buf[:n])
			s.n = copy(s.buf, s.buf[n:s.n])
			return chunk, nil
		}
		m, err := io.ReadAtLeast(s.r, s.buf[s.n:min(s.n+readStep, len(s.buf))], 1)
		s.n += m
		switch {
		case err == io.EOF:
			s.eof = true
		case err != nil:
			return nil, err
		}
	}
}
