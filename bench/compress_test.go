package bench

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/plugin/plugintest"
	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/ui"
	"github.com/imgbuild/imgbuild/postprocessors/compress"
)

const compressBenchSize = 128 << 20

// BenchmarkCompressGzip compresses a 128 MiB disk-like file into .gz with
// the compress post-processor and with gzip(1) at the same level, in the
// same run, and reports our time as a ratio to gzip's (x-gzip; target at
// most 1.0: the post-processor uses every core, gzip one).
func BenchmarkCompressGzip(b *testing.B) {
	gzipPath := testenv.NeedCommand(b, "gzip")
	dir := b.TempDir()
	src := filepath.Join(dir, "disk.img")
	if err := writeCompressible(src, compressBenchSize); err != nil {
		b.Fatal(err)
	}
	var ours, theirs time.Duration
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, "ours.gz")
		start := time.Now()
		runCompress(b, src, out)
		ours += time.Since(start)
		os.Remove(out)

		start = time.Now()
		f, err := os.Create(filepath.Join(dir, "theirs.gz"))
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(gzipPath, "-6", "-c", src)
		cmd.Stdout = f
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		theirs += time.Since(start)
		os.Remove(f.Name())
	}
	b.ReportMetric(ours.Seconds()/float64(b.N), "s-imgbuild")
	b.ReportMetric(theirs.Seconds()/float64(b.N), "s-gzip")
	b.ReportMetric(float64(ours)/float64(theirs), "x-gzip")
}

func runCompress(b *testing.B, src, out string) {
	pp, _ := plugin.NewPostProcessor("compress")
	pp.Config().(*compress.Config).Output = out
	if _, err := pp.Prepare(); err != nil {
		b.Fatal(err)
	}
	env := &plugin.PostProcessEnv{UI: ui.New(ui.Options{Out: io.Discard}).Build("bench.compress"), SourceName: "compress", SourceType: "bench"}
	if _, _, _, err := pp.PostProcess(context.Background(), env, &plugintest.Artifact{Name: src, Paths: []string{src}}); err != nil {
		b.Fatal(err)
	}
}

// writeCompressible writes runs of zeros and random bytes, like a disk
// image with free space.
func writeCompressible(path string, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	block := make([]byte, 64<<10)
	for written := 0; written < size; written += len(block) {
		if r.IntN(3) == 0 {
			for i := range block {
				block[i] = byte(r.IntN(16)) // low-entropy data
			}
		} else {
			clear(block)
		}
		if _, err := w.Write(block); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
