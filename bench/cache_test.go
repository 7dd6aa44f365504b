package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// cacheBenchTemplate stands for an image build: three provisioners that
// each write and compress 16 MiB, as unpacking a package would (about
// half a second each on the 2-core CI machine), then a small one. Its
// steps make data fast, so moving checkpoints weighs more here than in a
// build whose steps download or compile (see BenchmarkDockerSharedCacheNginx).
const cacheBenchTemplate = `
variable "repo" { type = string }
variable "tag"  { type = string }
variable "last" {
  type    = string
  default = "v1"
}

source "docker" "bench" {
  image   = "` + testenv.BaseImage + `"
  pull    = false
  commit  = true
  changes = ["CMD [\"cat\", \"/etc/last\"]"]
}

build {
  sources = ["source.docker.bench"]
  provisioner "shell" {
    inline = ["mkdir -p /opt/a && dd if=/dev/urandom bs=1M count=16 2>/dev/null | gzip -1 > /opt/a/blob.gz"]
  }
  provisioner "shell" {
    inline = ["mkdir -p /opt/b && dd if=/dev/urandom bs=1M count=16 2>/dev/null | gzip -1 > /opt/b/blob.gz"]
  }
  provisioner "shell" {
    inline = ["mkdir -p /opt/c && dd if=/dev/urandom bs=1M count=16 2>/dev/null | gzip -1 > /opt/c/blob.gz"]
  }
  provisioner "shell" {
    inline = ["echo '${var.last}' > /etc/last"]
  }
  post-processor "docker-tag" {
    repository = var.repo
    tags       = [var.tag]
  }
}
`

// BenchmarkDockerCacheRebuild times, through the real command line, a
// cold build without -cache (the floor every ratio is taken against), a
// cold build with -cache (x-cold-cached: what checkpointing costs), an
// unchanged rebuild (x-unchanged; target at most 0.05) and a rebuild with
// only the last provisioner changed (x-last-changed).
func BenchmarkDockerCacheRebuild(b *testing.B) {
	cli := enginetest.NeedEngine(b)
	bin := testenv.Binary(b)
	ctx := context.Background()
	tpl := filepath.Join(b.TempDir(), "bench.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(cacheBenchTemplate), 0o644); err != nil {
		b.Fatal(err)
	}
	repo := enginetest.Unique("imgbuild-bench-cache-")
	env := append(os.Environ(), "IMGBUILD_CACHE_DIR="+b.TempDir())
	var tags []string
	run := func(args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = b.TempDir(), env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("imgbuild %v: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}
	build := func(tag string, cached bool, vars ...string) time.Duration {
		b.Helper()
		tags = append(tags, tag)
		args := []string{"build", "-var", "repo=" + repo, "-var", "tag=" + tag}
		if cached {
			args = append(args, "-cache")
		}
		for _, v := range vars {
			args = append(args, "-var", v)
		}
		return run(append(args, tpl)...)
	}
	cleanup := func() {
		for _, tag := range tags {
			_, _ = cli.ImageRemove(ctx, repo+":"+tag, image.RemoveOptions{Force: true, PruneChildren: true})
		}
		tags = nil
		run("cache", "prune", "--all")
	}
	b.Cleanup(cleanup)

	build("warm", false) // the first build pays for cold engine caches
	cleanup()

	var cold, coldCached, unchanged, lastChanged time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cold += build("cold", false)
		coldCached += build("cold-cached", true)
		unchanged += build("unchanged", true)
		lastChanged += build("last", true, "last=v2")
		b.StopTimer()
		cleanup()
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(cold.Seconds()/n, "s-cold")
	b.ReportMetric(float64(coldCached)/float64(cold), "x-cold-cached")
	b.ReportMetric(float64(unchanged)/float64(cold), "x-unchanged")
	b.ReportMetric(float64(lastChanged)/float64(cold), "x-last-changed")
}

// qemuCacheTemplate is a disk_image build of the test VM with four
// provisioners that each write and compress 8 MiB, the last one small.
const qemuCacheTemplate = `
variable "out" { type = string }
variable "last" {
  type    = string
  default = "v1"
}

source "qemu" "bench" {
  iso_url          = "%[1]s/disk.qcow2"
  iso_checksum     = "sha256:%[2]s"
  disk_image       = true
  headless         = true
  output_directory = var.out
  communicator     = "ssh"
  ssh_username     = "root"
  ssh_password     = "vm-password"
  ssh_timeout      = "2m"
  shutdown_command = "poweroff"
  qemuargs = [["-kernel", "%[1]s/vmlinuz"], ["-initrd", "%[1]s/initrd.img"], ["-append", "root=/dev/vda quiet"]]
}

build {
  sources = ["source.qemu.bench"]
  provisioner "shell" {
    inline = ["dd if=/dev/urandom bs=1M count=8 2>/dev/null | gzip -1 > /root/a.gz"]
  }
  provisioner "shell" {
    inline = ["dd if=/dev/urandom bs=1M count=8 2>/dev/null | gzip -1 > /root/b.gz"]
  }
  provisioner "shell" {
    inline = ["dd if=/dev/urandom bs=1M count=8 2>/dev/null | gzip -1 > /root/c.gz"]
  }
  provisioner "shell" {
    inline = ["echo '${var.last}' > /root/last"]
  }
}
`

// BenchmarkQemuCacheRebuild is BenchmarkDockerCacheRebuild for the qemu
// builder (a private copy of the test VM): cold build without -cache (the
// floor), cold build with -cache (x-cold-cached), unchanged rebuild, where
// no VM boots (x-unchanged; target at most 0.05), and a rebuild with only
// the last provisioner changed (x-last-changed: the VM still boots and
// shuts down).
func BenchmarkQemuCacheRebuild(b *testing.B) {
	for _, c := range []string{"qemu-system-x86_64", "qemu-img"} {
		testenv.NeedCommand(b, c)
	}
	root := testenv.RepoRoot()
	if out, err := exec.Command(filepath.Join(root, "testdata", "make-test-vm.sh")).CombinedOutput(); err != nil {
		testenv.Unavailable(b, fmt.Sprintf("the test VM could not be built: %v: %s", err, out))
	}
	bin := testenv.Binary(b)
	vm := b.TempDir() // a private copy: other runs may rebuild testdata/vm
	for _, f := range []string{"disk.qcow2", "vmlinuz", "initrd.img"} {
		if out, err := exec.Command("cp", filepath.Join(root, "testdata", "vm", f), vm).CombinedOutput(); err != nil {
			b.Fatalf("copying the test VM: %v: %s", err, out)
		}
	}
	sum, err := exec.Command("sha256sum", filepath.Join(vm, "disk.qcow2")).Output()
	if err != nil {
		b.Fatal(err)
	}
	tpl := filepath.Join(b.TempDir(), "bench.pkr.hcl")
	content := fmt.Sprintf(qemuCacheTemplate, vm, strings.Fields(string(sum))[0])
	if err := os.WriteFile(tpl, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
	cacheDir := b.TempDir()
	env := append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
	work := b.TempDir()
	run := func(args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = work, env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("imgbuild %v: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}
	n := 0
	// build runs a build; flags are build's own ("-cache", "-var", "x=y").
	build := func(flags ...string) time.Duration {
		b.Helper()
		n++
		args := append([]string{"build", "-var", fmt.Sprintf("out=%s/out-%d", work, n)}, flags...)
		return run(append(args, tpl)...)
	}
	b.Cleanup(func() { run("cache", "prune", "--all") })

	// The last step changed: resumed from the VM state kept with the
	// checkpoint before it (the default), and booted from that checkpoint's
	// disk layer (-cache-vm-states 0), each from the same cached prefix.
	var cold, coldCached, unchanged, lastChanged, lastChangedBoot time.Duration
	var stateBytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cold += build()
		coldCached += build("-cache")
		stateBytes += vmStateBytes(b, cacheDir)
		unchanged += build("-cache")
		lastChanged += build("-cache", "-var", "last=v2")
		lastChangedBoot += build("-cache", "-cache-vm-states", "0", "-var", "last=v3")
		b.StopTimer()
		run("cache", "prune", "--all")
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(cold.Seconds()/float64(b.N), "s-cold")
	b.ReportMetric(float64(coldCached)/float64(cold), "x-cold-cached")
	b.ReportMetric(float64(unchanged)/float64(cold), "x-unchanged")
	b.ReportMetric(float64(lastChanged)/float64(cold), "x-last-changed")
	b.ReportMetric(float64(lastChangedBoot)/float64(cold), "x-last-changed-booting")
	b.ReportMetric(float64(stateBytes)/1e6/float64(b.N), "MB-vm-states")
}

// vmStateBytes is the disk space the VM states in a cache take.
func vmStateBytes(b *testing.B, cacheDir string) int64 {
	b.Helper()
	files, _ := filepath.Glob(filepath.Join(cacheDir, "data", "*.vmstate.zst"))
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}
