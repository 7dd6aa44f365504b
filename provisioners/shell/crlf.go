package shell

import "io"

// crlfReader turns Windows line endings into Unix ones as the script is
// uploaded (Packer does this unless binary = true), without buffering the
// whole script.
type crlfReader struct {
	r       io.Reader
	pending bool // a '\r' was held back from the previous read
}

func newCRLFReader(r io.Reader) io.Reader { return &crlfReader{r: r} }

func (c *crlfReader) Read(p []byte) (int, error) {
	if len(p) < 2 {
		return 0, io.ErrShortBuffer
	}
	off := 0
	if c.pending {
		p[0] = '\r'
		off = 1
		c.pending = false
	}
	n, err := c.r.Read(p[off:])
	n += off
	out := 0
	for i := 0; i < n; i++ {
		b := p[i]
		if b == '\r' {
			if i == n-1 {
				if err == nil {
					c.pending = true
					break
				}
			} else if p[i+1] == '\n' {
				continue
			}
		}
		p[out] = b
		out++
	}
	return out, err
}
