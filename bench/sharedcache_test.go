package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// BenchmarkDockerSharedCache times, through the real command line and the
// test S3 server, the cache bench template: a cold build without any
// cache (the floor), a cold build with -cache-url on an empty shared cache
// (x-cold-shared; target at most 1.15), the same as a ratio to a cold
// build with the local cache alone (x-shared-over-local: what uploading
// adds to checkpointing), and an unchanged rebuild on an empty runner
// (x-remote-hit: a fresh cache folder, every checkpoint image of the
// first runner removed, so what it needs comes through the object store;
// target at most 0.10).
func BenchmarkDockerSharedCache(b *testing.B) {
	cli := enginetest.NeedEngine(b)
	srv := testenv.UseS3(b)
	benchSharedCache(b, cli, func() string { return srv.URL("bench-" + enginetest.Unique("")) })
}

// BenchmarkDockerSharedCacheOCI is BenchmarkDockerSharedCache with the
// checkpoints as images in the test registry (-cache-url oci://), a
// repository of its own per iteration.
func BenchmarkDockerSharedCacheOCI(b *testing.B) {
	cli := enginetest.NeedEngine(b)
	testenv.UseRegistry(b) // or Unavailable
	benchSharedCache(b, cli, func() string { return testenv.UseRegistry(b).URL() })
}

// benchSharedCache runs the shared-cache benchmark with a new, empty
// shared cache from newURL for each iteration.
func benchSharedCache(b *testing.B, cli *client.Client, newURL func() string) {
	bin := testenv.Binary(b)
	ctx := context.Background()
	tpl := filepath.Join(b.TempDir(), "bench.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(cacheBenchTemplate), 0o644); err != nil {
		b.Fatal(err)
	}
	repo := enginetest.Unique("imgbuild-bench-shared-")
	var tags, cacheDirs []string
	run := func(cacheDir string, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = b.TempDir()
		cmd.Env = append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("imgbuild %v: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}
	runner := func() string {
		dir := b.TempDir()
		cacheDirs = append(cacheDirs, dir)
		return dir
	}
	build := func(cacheDir, tag, url string) time.Duration {
		b.Helper()
		tags = append(tags, tag)
		args := []string{"build", "-var", "repo=" + repo, "-var", "tag=" + tag}
		switch url {
		case "":
		case "local":
			args = append(args, "-cache")
		default:
			args = append(args, "-cache-url", url)
		}
		return run(cacheDir, append(args, tpl)...)
	}
	removeImages := func() {
		for _, tag := range tags {
			_, _ = cli.ImageRemove(ctx, repo+":"+tag, image.RemoveOptions{Force: true, PruneChildren: true})
		}
		tags = nil
		for _, dir := range cacheDirs {
			run(dir, "cache", "prune", "--all")
		}
		cacheDirs = nil
	}
	b.Cleanup(removeImages)

	build(runner(), "warm", "") // the first build pays for cold engine caches
	removeImages()

	var cold, coldLocal, coldShared, remoteHit time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		url := newURL()
		b.StartTimer()
		cold += build(runner(), "cold", "")
		b.StopTimer()
		removeImages()
		b.StartTimer()
		coldLocal += build(runner(), "cold-local", "local")
		b.StopTimer()
		removeImages()
		b.StartTimer()
		coldShared += build(runner(), "cold-shared", url)
		b.StopTimer()
		removeImages() // the first runner goes away with everything it made
		b.StartTimer()
		remoteHit += build(runner(), "remote-hit", url)
		b.StopTimer()
		removeImages()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(cold.Seconds()/float64(b.N), "s-cold")
	b.ReportMetric(float64(coldShared)/float64(cold), "x-cold-shared")
	b.ReportMetric(float64(coldShared)/float64(coldLocal), "x-shared-over-local")
	b.ReportMetric(float64(remoteHit)/float64(cold), "x-remote-hit")
}
