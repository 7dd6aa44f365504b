package bench

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/cache/remote"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// BenchmarkSharedCacheLayerMemory stores a 2 GiB disk-like layer in the
// shared cache and downloads it again (zstd, multipart, digest checked)
// against the test S3 server, and reports the peak Go heap while it does
// (MiB-peak-heap; target below 100: both ways stream). IMGBUILD_BENCH_LAYER_MIB
// sets another size.
func BenchmarkSharedCacheLayerMemory(b *testing.B) {
	srv := testenv.UseS3(b)
	size := int64(2048)
	if v, err := strconv.ParseInt(os.Getenv("IMGBUILD_BENCH_LAYER_MIB"), 10, 64); err == nil && v > 0 {
		size = v
	}
	size <<= 20
	dir := b.TempDir()
	src := filepath.Join(dir, "layer.qcow2")
	if err := writeDiskLike(src, size); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	store, err := remote.Open(ctx, srv.URL("bench"))
	if err != nil {
		b.Fatal(err)
	}
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	runtime.GC()
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := store.PutFile(ctx, "layer", src)
		if err != nil {
			b.Fatal(err)
		}
		dst := filepath.Join(dir, "back-"+strconv.Itoa(i))
		if err := store.FetchFile(ctx, f, dst); err != nil {
			b.Fatal(err)
		}
		os.Remove(dst)
		if _, err := store.Prune(ctx, time.Time{}); err != nil { // the next round uploads again
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	<-sampled
	b.ReportMetric(float64(peak.Load())/(1<<20), "MiB-peak-heap")
	b.SetBytes(size)
}

// writeDiskLike writes size bytes that compress as a used disk does:
// 1 MiB blocks, alternately random and zero.
func writeDiskLike(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	block := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(block)) {
		clear(block)
		if (off>>20)%2 == 0 {
			for i := 0; i < len(block); i += 8 {
				v := rng.Uint64()
				for j := 0; j < 8; j++ {
					block[i+j] = byte(v >> (8 * j))
				}
			}
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
