package ui

import (
	"io"

	"github.com/schollz/progressbar/v3"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
)

// TrackProgress draws a progress bar for a transfer when a terminal is
// attached; otherwise r is returned unchanged.
func (u *BuildUI) TrackProgress(label string, size int64, r plugin.ReadCloser) plugin.ReadCloser {
	if !u.root.opts.Terminal {
		return r
	}
	bar := progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(&lockedWriter{root: u.root}),
		progressbar.OptionSetDescription(secret.Mask(u.name+": "+label)),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100_000_000), // 100ms
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
	return &progressReader{r: r, bar: bar, size: size}
}

type progressReader struct {
	r    io.ReadCloser
	bar  *progressbar.ProgressBar
	size int64
	read int64
}

// Size reports the bytes left to read (-1 when unknown), so that a
// communicator that must announce a file's size first (scp) can stream a
// tracked upload instead of spooling it to disk.
func (p *progressReader) Size() int64 {
	if p.size < 0 {
		return -1
	}
	return p.size - p.read
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read += int64(n)
	_ = p.bar.Add(n)
	return n, err
}

func (p *progressReader) Close() error {
	_ = p.bar.Finish()
	return p.r.Close()
}

// lockedWriter keeps a bar's redraws from cutting through another build's line.
type lockedWriter struct{ root *Root }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.root.mu.Lock()
	defer w.root.mu.Unlock()
	return w.root.opts.Out.Write(b)
}
