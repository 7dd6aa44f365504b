package compress

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/pierrec/lz4/v4"
)

// format is an archive (tar, zip or none) with a compression (gzip, zstd,
// lz4 or none).
type format struct {
	archive string // "tar", "zip" or ""
	codec   string // "gzip", "zstd", "lz4" or ""
}

// formats by output extension (longest first when matching).
var formats = []struct {
	ext string
	f   format
}{
	{".tar.gz", format{"tar", "gzip"}},
	{".tar.zst", format{"tar", "zstd"}},
	{".tar.lz4", format{"tar", "lz4"}},
	{".tgz", format{"tar", "gzip"}},
	{".tar", format{"tar", ""}},
	{".zip", format{"zip", ""}},
	{".gz", format{"", "gzip"}},
	{".zst", format{"", "zstd"}},
	{".lz4", format{"", "lz4"}},
}

func supported() string {
	var exts []string
	for _, f := range formats {
		exts = append(exts, f.ext)
	}
	return strings.Join(exts, ", ")
}

// formatOf finds the format named by a file name's extension, or by the
// format option ("tar.gz", ".zip", ...).
func formatOf(name string) (format, error) {
	lower := strings.ToLower(name)
	for _, f := range formats {
		if strings.HasSuffix(lower, f.ext) || "."+lower == f.ext {
			return f.f, nil
		}
	}
	return format{}, fmt.Errorf("cannot tell the compression format of %q: use one of %s", name, supported())
}

// compressor wraps w with the codec, using every core. level is 1-9.
func compressor(codec string, w io.Writer, level int) (io.WriteCloser, error) {
	cpus := runtime.NumCPU()
	switch codec {
	case "gzip":
		zw, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, fmt.Errorf("gzip level %d: %w", level, err)
		}
		if err := zw.SetConcurrency(1<<20, 2*cpus); err != nil {
			return nil, err
		}
		return zw, nil
	case "zstd":
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithEncoderConcurrency(cpus))
	case "lz4":
		zw := lz4.NewWriter(w)
		lvl := lz4.Fast
		if level > 1 {
			lvl = lz4.CompressionLevel(1 << (8 + level - 1))
		}
		if err := zw.Apply(lz4.ConcurrencyOption(cpus), lz4.CompressionLevelOption(lvl)); err != nil {
			return nil, fmt.Errorf("lz4 level %d: %w", level, err)
		}
		return zw, nil
	}
	return nopCloser{w}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
