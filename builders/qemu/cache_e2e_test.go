package qemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// cacheTemplate is a disk_image build of the test VM with four
// provisioners: the second uploads a folder, the third can fail, the
// fourth's content comes from a variable. Each shell step prints a marker
// in capitals that its command (lower case) does not contain.
const cacheTemplate = `
variable "out"   { type = string }
variable "files" { type = string }
variable "last" {
  type    = string
  default = "last v1"
}
variable "fail" {
  type    = bool
  default = false
}

source "qemu" "cached" {
  iso_url          = "%s"
  iso_checksum     = "sha256:%s"
  disk_image       = true
  headless         = true
  output_directory = var.out
  vm_name          = "%s"
  communicator     = "ssh"
  ssh_username     = "root"
  ssh_password     = "%s"
  ssh_timeout      = "2m"
  shutdown_command = "poweroff"
  qemuargs = [["-kernel", "%s"], ["-initrd", "%s"], ["-append", "root=/dev/vda quiet"]]
}

build {
  sources = ["source.qemu.cached"]
  provisioner "shell" {
    inline = ["echo step-one-ran | tr a-z A-Z", "mkdir -p /opt/app", "echo one > /opt/app/one"]
  }
  provisioner "file" {
    source      = "${var.files}/"
    destination = "/opt/app/files"
  }
  provisioner "shell" {
    inline = ["echo step-three-ran | tr a-z A-Z", var.fail ? "exit 3" : "true", "cat /opt/app/files/* > /opt/app/combined"]
  }
  provisioner "shell" {
    inline = ["echo step-four-ran | tr a-z A-Z", "echo '${var.last}' > /etc/last"]
  }
}
`

var qemuMarkers = map[int]string{1: "STEP-ONE-RAN", 2: "Uploading ", 3: "STEP-THREE-RAN", 4: "STEP-FOUR-RAN"}

func qemuRan(t *testing.T, phase, out string, want ...int) {
	t.Helper()
	for step := 1; step <= 4; step++ {
		should := false
		for _, w := range want {
			should = should || w == step
		}
		if got := strings.Contains(out, qemuMarkers[step]); got != should {
			t.Errorf("%s: provisioner %d ran = %v, want %v:\n%s", phase, step, got, should, out)
		}
	}
}

// imageTree dumps an output image's file system (debugfs rdump, no boot)
// and describes each entry: type, mode and content digest.
func imageTree(t *testing.T, image string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", image, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert %s: %v: %s", image, err, out)
	}
	dump := filepath.Join(dir, "root")
	os.Mkdir(dump, 0o755)
	if out, err := exec.Command(testenv.NeedCommand(t, "debugfs"), "-R", "rdump / "+dump, raw).CombinedOutput(); err != nil {
		t.Fatalf("debugfs rdump %s: %v: %s", image, err, out)
	}
	os.Remove(raw)
	tree := map[string]string{}
	err := filepath.WalkDir(dump, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dump, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:8])
		}
		tree[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("reading the dump of %s: %v", image, err)
	}
	return tree
}

func treeDiff(got, want map[string]string, ignore map[string]bool) []string {
	var diffs []string
	for name, w := range want {
		if ignore[name] {
			continue
		}
		if g, ok := got[name]; !ok {
			diffs = append(diffs, "missing "+name)
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("differs %s: %s, want %s", name, g, w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok && !ignore[name] {
			diffs = append(diffs, "extra "+name)
		}
	}
	sort.Strings(diffs)
	return diffs
}

func TestQemuCacheRunsOnlyTheStepsWhoseInputsChanged(t *testing.T) {
	vm := needTestVM(t)
	bin := testenv.Binary(t)
	work := t.TempDir()
	// A private copy of the VM: another test process may rebuild
	// testdata/vm while this one runs, and the cache keys cover its files.
	for _, f := range []*string{&vm.disk, &vm.kernel, &vm.initrd} {
		cp := filepath.Join(work, filepath.Base(*f))
		if err := copyFile(*f, cp); err != nil {
			t.Fatal(err)
		}
		*f = cp
	}
	sum, err := fileSHA256(vm.disk)
	if err != nil {
		t.Fatal(err)
	}
	vm.diskSHA256 = sum
	name := uniqueName(t)
	tpl := filepath.Join(work, "cached.pkr.hcl")
	content := fmt.Sprintf(cacheTemplate, vm.disk, vm.diskSHA256, name, vm.password, vm.kernel, vm.initrd)
	if err := os.WriteFile(tpl, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	files := filepath.Join(work, "files")
	os.Mkdir(files, 0o755)
	writeFile := func(name, content string) {
		if err := os.WriteFile(filepath.Join(files, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile("a.txt", "alpha v1\n")
	writeFile("b.txt", "beta\n")
	// Short, so that the QMP socket fits in the cache's data folder (a
	// socket path has at most 108 bytes; t.TempDir's are long).
	cacheDir, err := os.MkdirTemp("", "imgbuild-e2e-cache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(cacheDir) })
	t.Cleanup(func() {
		cmd := exec.Command(bin, "cache", "prune", "--all")
		cmd.Env = append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("imgbuild cache prune --all: %v\n%s", err, out)
		}
		if left, _ := filepath.Glob(filepath.Join(cacheDir, "data", "*")); len(left) > 0 {
			t.Errorf("files left in the cache after prune --all: %v", left)
		}
	})

	build := func(out string, cached bool, vars ...string) (string, error) {
		t.Helper()
		args := []string{"build"}
		if cached {
			args = append(args, "-cache")
		}
		args = append(args, "-var", "out="+filepath.Join(work, "out-"+out), "-var", "files="+files)
		for _, v := range vars {
			args = append(args, "-var", v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append(args, tpl)...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		if qemuRunning(name) {
			t.Errorf("build %s left a qemu process running", out)
		}
		return buf.String(), err
	}
	mustBuild := func(out string, cached bool, vars ...string) string {
		t.Helper()
		s, err := build(out, cached, vars...)
		if err != nil {
			t.Fatalf("build %s failed: %v\n%s", out, err, s)
		}
		return s
	}
	image := func(out string) string { return filepath.Join(work, "out-"+out, name) }

	// Two cold builds tell which files change on every boot (logs, seeds):
	// those are no build's content and are left out of the comparisons.
	mustBuild("ref-v1", false)
	mustBuild("ref-v1b", false)
	ref := imageTree(t, image("ref-v1"))
	noise := changedPaths(imageTree(t, image("ref-v1b")), ref)
	t.Logf("files that differ between two cold builds, left out: %v", noise)
	// Left out, but bounded: boot noise is a handful of files, and a test
	// that drops many could no longer see a difference that matters.
	if len(noise) > 10 {
		t.Fatalf("%d files differ between two identical cold builds (at most 10 are expected): %v", len(noise), noise)
	}
	same := func(out string, want map[string]string) {
		t.Helper()
		if diffs := treeDiff(imageTree(t, image(out)), want, noise); len(diffs) > 0 {
			t.Errorf("%s differs from the cold build:\n%s", out, strings.Join(diffs, "\n"))
		}
	}

	out := mustBuild("cold", true)
	qemuRan(t, "cold build", out, 1, 2, 3, 4)
	same("cold", ref)

	start := time.Now()
	out = mustBuild("unchanged", true)
	qemuRan(t, "unchanged rebuild", out)
	if strings.Contains(out, "Starting qemu") || strings.Count(out, "restored from cache") != 4 {
		t.Errorf("the unchanged rebuild booted a VM or did not restore 4 steps:\n%s", out)
	}
	t.Logf("unchanged rebuild took %s", time.Since(start))
	same("unchanged", ref)

	// Without the state kept after the last shutdown, a fully cached
	// rebuild boots on the last layer and shuts down, running nothing.
	finals, _ := filepath.Glob(filepath.Join(cacheDir, "data", "*.final.qcow2"))
	if len(finals) != 1 {
		t.Errorf("kept shut-down states: %v, want one", finals)
	}
	for _, f := range finals {
		os.Remove(f)
	}
	out = mustBuild("nofinal", true)
	qemuRan(t, "unchanged rebuild without the kept shutdown", out)
	if !strings.Contains(out, "Starting qemu") {
		t.Errorf("the rebuild without the kept shutdown did not boot:\n%s", out)
	}
	same("nofinal", ref)

	out = mustBuild("last", true, "last=last v2")
	qemuRan(t, "last step changed", out, 4)
	mustBuild("ref-last", false, "last=last v2")
	refLast := imageTree(t, image("ref-last"))
	same("last", refLast)

	writeFile("a.txt", "alpha v2\n")
	out = mustBuild("files", true, "last=last v2")
	qemuRan(t, "uploaded file changed", out, 2, 3, 4)
	mustBuild("ref-files", false, "last=last v2")
	same("files", imageTree(t, image("ref-files")))

	writeFile("a.txt", "alpha v3\n")
	out, err = build("failed", true, "last=last v2", "fail=true")
	if err == nil {
		t.Fatalf("the build meant to fail at step 3 succeeded:\n%s", out)
	}
	qemuRan(t, "failing build", out, 2, 3)
	out = mustBuild("fixed", true, "last=last v2")
	qemuRan(t, "fixed build", out, 3, 4)
	if !strings.Contains(out, "Provisioner 2 (file) restored from cache") {
		t.Errorf("the fixed build did not resume from the failed build's step 2 checkpoint:\n%s", out)
	}
	mustBuild("ref-fixed", false, "last=last v2")
	same("fixed", imageTree(t, image("ref-fixed")))

	// A build killed outright (SIGKILL: no cleanup of its own runs) takes
	// its VM with it but leaves its working disk in the cache; the next
	// -cache build removes that disk and says so.
	killed := exec.Command(bin, "build", "-cache", "-var", "out="+filepath.Join(work, "out-killed"),
		"-var", "files="+files, "-var", "last=last v3", tpl)
	killed.Dir = work
	killed.Env = append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once its working disk and QMP folder exist and its QEMU
	// runs: the VM must go with it, the files stay for the next build.
	var working []string
	for deadline := time.Now().Add(2 * time.Minute); (len(working) < 2 || !qemuRunning(name)) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		working, _ = filepath.Glob(filepath.Join(cacheDir, "data", "active-*"))
	}
	killed.Process.Kill()
	killed.Wait()
	if len(working) == 0 {
		t.Fatal("the build to kill never made its working disk")
	}
	for deadline := time.Now().Add(10 * time.Second); qemuRunning(name) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if qemuRunning(name) {
		t.Error("qemu outlived the killed build")
	}
	working, _ = filepath.Glob(filepath.Join(cacheDir, "data", "active-*")) // its disk and QMP folder
	t.Logf("killed the build, leaving %v", working)
	out = mustBuild("after-kill", true, "last=last v3")
	if want := fmt.Sprintf("removed %d file(s) that killed builds", len(working)); len(working) < 2 || !strings.Contains(out, want) {
		t.Errorf("the build after the killed one did not report removing its disk and QMP folder (%v):\n%s", working, out)
	}
	for _, w := range working {
		if _, err := os.Stat(w); !os.IsNotExist(err) {
			t.Errorf("the killed build's working disk %s is still there (%v)", w, err)
		}
	}
}

// changedPaths lists the paths whose entries differ between a and b.
func changedPaths(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k, v := range a {
		if b[k] != v {
			out[k] = true
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out[k] = true
		}
	}
	return out
}
