package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/cache"
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
// target at most 0.10). Two floors show what the Docker Engine's own
// operations cost: x-load-floor, docker load of the built image's archive
// (any remote hit pays it), and x-save-floor, docker save of the shared
// build's checkpoints (any upload of them through the engine's API pays
// it; each holds everything its build wrote so far, as a commit of the
// build container holds everything since the container started).
func BenchmarkDockerSharedCache(b *testing.B) {
	cli := enginetest.NeedEngine(b)
	srv := testenv.UseS3(b)
	benchSharedCache(b, cli, cacheBench(b), func() string { return srv.URL("bench-" + enginetest.Unique("")) })
}

// BenchmarkDockerSharedCacheOCI is BenchmarkDockerSharedCache with the
// checkpoints as images in the test registry (-cache-url oci://), a
// repository of its own per iteration.
func BenchmarkDockerSharedCacheOCI(b *testing.B) {
	cli := enginetest.NeedEngine(b)
	testenv.UseRegistry(b) // or Unavailable
	benchSharedCache(b, cli, cacheBench(b), func() string { return testenv.UseRegistry(b).URL() })
}

// BenchmarkDockerSharedCacheNginx is BenchmarkDockerSharedCache on the
// docker build of examples/nginx: Debian's apt-get installing nginx from
// Debian's mirror (network time varies between builds: run a few
// iterations), then a page written. Its provisioning is what a real
// image's is; the cache bench template's steps write 16 MiB of random
// data in half a second each, so there moving the data is most of the
// work.
func BenchmarkDockerSharedCacheNginx(b *testing.B) {
	cli := enginetest.NeedEngine(b)
	srv := testenv.UseS3(b)
	testenv.DebianImage(b)
	example := filepath.Join(testenv.RepoRoot(), "examples", "nginx")
	nginx := benchTemplate{
		path: example,
		args: func(repo, tag string) []string {
			return []string{"-only", "docker.nginx", "-var", "docker_repository=" + repo + "-" + tag}
		},
		image: func(repo, tag string) string { return repo + "-" + tag + ":latest" },
	}
	benchSharedCache(b, cli, nginx, func() string { return srv.URL("bench-" + enginetest.Unique("")) })
}

// benchTemplate is a docker template for benchSharedCache: where it is,
// the variables that name its image, and that image's name.
type benchTemplate struct {
	path  string
	args  func(repo, tag string) []string
	image func(repo, tag string) string
}

// cacheBench is cacheBenchTemplate, written to a file of the benchmark's.
func cacheBench(b *testing.B) benchTemplate {
	tpl := filepath.Join(b.TempDir(), "bench.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(cacheBenchTemplate), 0o644); err != nil {
		b.Fatal(err)
	}
	return benchTemplate{
		path:  tpl,
		args:  func(repo, tag string) []string { return []string{"-var", "repo=" + repo, "-var", "tag=" + tag} },
		image: func(repo, tag string) string { return repo + ":" + tag },
	}
}

// benchSharedCache runs the shared-cache benchmark with a new, empty
// shared cache from newURL for each iteration.
func benchSharedCache(b *testing.B, cli *client.Client, tpl benchTemplate, newURL func() string) {
	bin := testenv.Binary(b)
	ctx := context.Background()
	repo := enginetest.Unique("imgbuild-bench-shared-")
	var images, cacheDirs []string
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
		images = append(images, tpl.image(repo, tag))
		args := append([]string{"build"}, tpl.args(repo, tag)...)
		switch url {
		case "":
		case "local":
			args = append(args, "-cache")
		default:
			args = append(args, "-cache-url", url)
		}
		return run(cacheDir, append(args, tpl.path)...)
	}
	removeImages := func() {
		for _, ref := range images {
			_, _ = cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
		}
		images = nil
		for _, dir := range cacheDirs {
			run(dir, "cache", "prune", "--all")
		}
		cacheDirs = nil
	}
	b.Cleanup(removeImages)

	build(runner(), "warm", "") // the first build pays for cold engine caches
	removeImages()

	var cold, coldLocal, coldShared, remoteHit, load, save time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		url := newURL()
		b.StartTimer()
		cold += build(runner(), "cold", "")
		b.StopTimer()
		load += loadTime(b, cli, images[0])
		removeImages()
		b.StartTimer()
		coldLocal += build(runner(), "cold-local", "local")
		b.StopTimer()
		removeImages()
		b.StartTimer()
		coldShared += build(runner(), "cold-shared", url)
		b.StopTimer()
		if !strings.HasPrefix(url, "oci://") {
			save += saveTime(b, cli, cacheDirs[len(cacheDirs)-1])
		}
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
	b.ReportMetric(float64(load)/float64(cold), "x-load-floor")
	if save > 0 {
		b.ReportMetric(float64(save)/float64(cold), "x-save-floor")
	}
}

// saveTime times docker save (the engine's export, read to the end and
// dropped) of each checkpoint image in the cache folder: what sharing
// them through an object store costs at least in the engine alone.
func saveTime(b *testing.B, cli *client.Client, cacheDir string) time.Duration {
	b.Helper()
	store, err := cache.Open(cacheDir)
	if err != nil {
		b.Fatal(err)
	}
	entries, err := store.List()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for _, e := range entries {
		rc, err := cli.ImageSave(context.Background(), []string{e.Ref})
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		if err != nil {
			b.Fatalf("saving checkpoint %s: %v", e.Ref, err)
		}
	}
	return time.Since(start)
}

func saveImage(ctx context.Context, cli *client.Client, ref, path string) error {
	rc, err := cli.ImageSave(ctx, []string{ref})
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, rc)
	return errors.Join(err, f.Close())
}

// loadTime saves the image ref to a file, removes it from the engine and
// times docker load of the file (the image is back afterwards): the least
// any runner that does not have the image pays to get it into its engine.
func loadTime(b *testing.B, cli *client.Client, ref string) time.Duration {
	b.Helper()
	ctx := context.Background()
	archive := filepath.Join(b.TempDir(), "image.tar")
	defer os.Remove(archive)
	if err := saveImage(ctx, cli, ref, archive); err != nil {
		b.Fatalf("saving %s: %v", ref, err)
	}
	if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil {
		b.Fatalf("removing %s: %v", ref, err)
	}
	f, err := os.Open(archive)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	resp, err := cli.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err != nil {
		b.Fatalf("loading %s: %v", ref, err)
	}
	return time.Since(start)
}

// BenchmarkQemuSharedCache is BenchmarkDockerSharedCache for the qemu
// builder, on a private copy of the test VM (qemuCacheTemplate): a cold
// build without any cache (the floor); a cold build with -cache-url on an
// empty shared cache (x-cold-shared, target at most 1.15) and with
// -cache-share-vm-states too (x-cold-shared-states); an unchanged rebuild
// on an empty runner, which downloads every layer and boots no VM
// (x-remote-hit, target at most 0.10); and a rebuild with the last step
// changed on an empty runner, booting from the downloaded layers
// (x-remote-last-changed) or resuming the VM state another runner shared
// (x-remote-last-changed-resumed).
func BenchmarkQemuSharedCache(b *testing.B) {
	srv := testenv.UseS3(b)
	vm, sum := benchTestVM(b)
	bin := testenv.Binary(b)
	tpl := filepath.Join(b.TempDir(), "bench.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(fmt.Sprintf(qemuCacheTemplate, vm, sum)), 0o644); err != nil {
		b.Fatal(err)
	}
	work := b.TempDir()
	var made []string // runners' cache folders and output folders
	b.Cleanup(func() {
		for _, d := range made {
			os.RemoveAll(d)
		}
	})
	n := 0
	// build runs a build on a new, empty runner; flags are build's own.
	build := func(flags ...string) time.Duration {
		b.Helper()
		n++
		cacheDir, out := filepath.Join(work, fmt.Sprintf("cache-%d", n)), filepath.Join(work, fmt.Sprintf("out-%d", n))
		made = append(made, cacheDir, out)
		cmd := exec.Command(bin, append(append([]string{"build", "-var", "out=" + out}, flags...), tpl)...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
		start := time.Now()
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("imgbuild build %v: %v\n%s", flags, err, o)
		}
		return time.Since(start)
	}
	removeRunners := func() {
		for _, d := range made {
			os.RemoveAll(d)
		}
		made = nil
	}

	var cold, coldShared, coldStates, remoteHit, lastBoot, lastResumed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		layers := srv.URL(fmt.Sprintf("bench-qemu-%d-layers", i))
		states := srv.URL(fmt.Sprintf("bench-qemu-%d-states", i))
		cold += build()
		coldShared += build("-cache-url", layers)
		remoteHit += build("-cache-url", layers)
		lastBoot += build("-cache-url", layers, "-var", "last=v2")
		coldStates += build("-cache-url", states, "-cache-share-vm-states")
		lastResumed += build("-cache-url", states, "-cache-share-vm-states", "-var", "last=v2")
		b.StopTimer()
		removeRunners()
		b.StartTimer()
	}
	b.StopTimer()
	ratio := func(d time.Duration) float64 { return float64(d) / float64(cold) }
	b.ReportMetric(cold.Seconds()/float64(b.N), "s-cold")
	b.ReportMetric(ratio(coldShared), "x-cold-shared")
	b.ReportMetric(ratio(coldStates), "x-cold-shared-states")
	b.ReportMetric(ratio(remoteHit), "x-remote-hit")
	b.ReportMetric(ratio(lastBoot), "x-remote-last-changed")
	b.ReportMetric(ratio(lastResumed), "x-remote-last-changed-resumed")
}

// benchTestVM copies the test VM (made by testdata/make-test-vm.sh) into
// a folder of the benchmark's own, as other runs may rebuild testdata/vm,
// and returns the folder and its disk's SHA-256.
func benchTestVM(b *testing.B) (dir, diskSHA256 string) {
	b.Helper()
	for _, c := range []string{"qemu-system-x86_64", "qemu-img"} {
		testenv.NeedCommand(b, c)
	}
	root := testenv.RepoRoot()
	if out, err := exec.Command(filepath.Join(root, "testdata", "make-test-vm.sh")).CombinedOutput(); err != nil {
		testenv.Unavailable(b, fmt.Sprintf("the test VM could not be built: %v: %s", err, out))
	}
	dir = b.TempDir()
	for _, f := range []string{"disk.qcow2", "vmlinuz", "initrd.img"} {
		if out, err := exec.Command("cp", filepath.Join(root, "testdata", "vm", f), dir).CombinedOutput(); err != nil {
			b.Fatalf("copying the test VM: %v: %s", err, out)
		}
	}
	sum, err := exec.Command("sha256sum", filepath.Join(dir, "disk.qcow2")).Output()
	if err != nil {
		b.Fatal(err)
	}
	return dir, strings.Fields(string(sum))[0]
}
