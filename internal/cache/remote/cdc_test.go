package remote

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// split returns data's chunks, read through a reader that returns short reads.
func split(t *testing.T, data []byte) [][]byte {
	t.Helper()
	s := newSplitter(iotest.HalfReader(bytes.NewReader(data)))
	var out [][]byte
	for {
		c, err := s.next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

func TestChunksJoinBackIntoTheFileAndKeepWithinTheirSizeBounds(t *testing.T) {
	data := randomBytes(1, 64<<20)
	chunks := split(t, data)
	if got := bytes.Join(chunks, nil); !bytes.Equal(got, data) {
		t.Fatal("the chunks joined differ from the file")
	}
	for i, c := range chunks {
		if len(c) > maxChunk || (i < len(chunks)-1 && len(c) < minChunk) {
			t.Errorf("chunk %d of %d is %d bytes, not within [%d, %d]", i, len(chunks), len(c), minChunk, maxChunk)
		}
	}
	if avg := len(data) / len(chunks); avg < 1<<20 || avg > 4<<20 {
		t.Errorf("random content cuts into chunks of %d bytes on average; want about %d", avg, avgChunk)
	}
}

func TestContentWithoutCutsIsCutAtTheMaximumAndSmallFilesAreOneChunk(t *testing.T) {
	zeros := make([]byte, 3*maxChunk+5)
	chunks := split(t, zeros)
	if len(chunks) != 4 || len(chunks[0]) != maxChunk || len(chunks[3]) != 5 {
		var sizes []int
		for _, c := range chunks {
			sizes = append(sizes, len(c))
		}
		t.Errorf("zeros cut into %v", sizes)
	}
	for _, n := range []int{1, minChunk} {
		if chunks := split(t, randomBytes(2, n)); len(chunks) != 1 || len(chunks[0]) != n {
			t.Errorf("a %d-byte file cut into %d chunks", n, len(chunks))
		}
	}
	if chunks := split(t, nil); len(chunks) != 0 {
		t.Errorf("an empty file cut into %d chunks", len(chunks))
	}
}

// Bytes inserted into the middle of a file and appended at its end change
// only the chunks around the change: the others are the same as before.
func TestAnInsertionChangesOnlyTheChunksAroundIt(t *testing.T) {
	a := randomBytes(3, 32<<20)
	b := append(append(append([]byte(nil), a[:10<<20]...), "a few inserted bytes"...), a[10<<20:]...)
	b = append(b, randomBytes(4, 16<<20)...)
	had := map[[32]byte]bool{}
	for _, c := range split(t, a) {
		had[sha256.Sum256(c)] = true
	}
	newBytes := 0
	for _, c := range split(t, b) {
		if !had[sha256.Sum256(c)] {
			newBytes += len(c)
		}
	}
	// 16 MiB appended, plus the chunk or two the insertion touched.
	if newBytes > 16<<20+2*maxChunk {
		t.Errorf("%d MiB of the changed file's chunks are new; want little more than the 16 MiB appended", newBytes>>20)
	}
	t.Logf("new: %.1f MiB of %.1f MiB", float64(newBytes)/(1<<20), float64(len(b))/(1<<20))
}
