package qemu

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// testVM is the VM that testdata/make-test-vm.sh and make-test-iso.sh build.
type testVM struct {
	dir                    string
	kernel, initrd, disk   string
	liveISO, key, password string
	diskSHA256, liveSHA256 string
}

var (
	vmOnce sync.Once
	vmErr  error
	vmInfo testVM
)

// needTestVM builds (or finds cached) the test VM, or marks the test
// unavailable when QEMU and its tools are missing.
func needTestVM(t *testing.T) testVM {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM")
	}
	for _, c := range []string{"qemu-system-x86_64", "qemu-img", "debugfs", "mke2fs", "xorriso", "busybox", "sshd", "cpio"} {
		testenv.NeedCommand(t, c)
	}
	vmOnce.Do(func() {
		root := testenv.RepoRoot()
		cmd := exec.Command(filepath.Join(root, "testdata", "make-test-iso.sh"))
		if out, err := cmd.CombinedOutput(); err != nil {
			vmErr = fmt.Errorf("testdata/make-test-iso.sh: %v\n%s", err, out)
			return
		}
		dir := filepath.Join(root, "testdata", "vm")
		vmInfo = testVM{
			dir: dir, kernel: filepath.Join(dir, "vmlinuz"), initrd: filepath.Join(dir, "initrd.img"),
			disk: filepath.Join(dir, "disk.qcow2"), liveISO: filepath.Join(dir, "live.iso"),
			key: filepath.Join(dir, "id_ed25519"), password: "vm-password",
		}
		vmInfo.diskSHA256, vmErr = fileSHA256(vmInfo.disk)
		if vmErr == nil {
			vmInfo.liveSHA256, vmErr = fileSHA256(vmInfo.liveISO)
		}
	})
	if vmErr != nil {
		testenv.Unavailable(t, "the test VM could not be built: "+vmErr.Error())
	}
	return vmInfo
}

// uniqueName makes a vm_name that finds this test's QEMU in the process list.
func uniqueName(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "imgbuild-test-" + hex.EncodeToString(b)
}

// diskImageConfig is a disk_image build of the test VM's disk, booted by
// direct kernel boot.
func diskImageConfig(t *testing.T, vm testVM) *Builder {
	b := &Builder{}
	c := &b.config
	c.ISOURL = vm.disk
	c.ISOChecksum = "sha256:" + vm.diskSHA256
	c.DiskImage = true
	c.Headless = true
	c.OutputDir = filepath.Join(t.TempDir(), "output")
	c.VMName = uniqueName(t)
	c.Type = "ssh"
	c.SSHUsername = "root"
	c.SSHPassword = vm.password
	c.SSHTimeout = 2 * time.Minute
	c.ShutdownCommand = "poweroff"
	c.QemuArgs = [][]string{
		{"-kernel", vm.kernel}, {"-initrd", vm.initrd}, {"-append", "root=/dev/vda quiet"},
	}
	return b
}

func prepare(t *testing.T, b *Builder) {
	t.Helper()
	if _, err := b.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
}

// readFromImage reads a file out of an output image's ext4 filesystem
// without booting it (qemu-img convert + debugfs).
func readFromImage(t *testing.T, image, path string) string {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "disk.raw")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", image, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	defer os.Remove(raw)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(testenv.NeedCommand(t, "debugfs"), "-R", "cat "+path, raw)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("debugfs: %v: %s", err, stderr.String())
	}
	return stdout.String()
}

// qemuRunning reports whether a process with name in its command line runs.
func qemuRunning(name string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(name)) && bytes.Contains(b, []byte("qemu-system")) {
			return true
		}
	}
	return false
}

func portOpen(port string) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// assertNothingLeft checks the promises a failed build keeps: no QEMU, no
// forwarded port, no output directory.
func assertNothingLeft(t *testing.T, b *Builder, port string) {
	t.Helper()
	if qemuRunning(b.config.VMName) {
		t.Errorf("a qemu process named %s still runs", b.config.VMName)
	}
	if port != "" && portOpen(port) {
		t.Errorf("the forwarded SSH port %s still accepts connections", port)
	}
	if _, err := os.Stat(b.config.OutputDir); !os.IsNotExist(err) {
		t.Errorf("output directory %s was left behind (stat: %v)", b.config.OutputDir, err)
	}
}

// testUI records what the builder says and logs it.
type testUI struct {
	t     *testing.T
	start time.Time
	mu    sync.Mutex
	lines []string
	// onSay, when set, is called with each headline.
	onSay func(string)
}

func newTestUI(t *testing.T) *testUI { return &testUI{t: t, start: time.Now()} }

func (u *testUI) add(kind, msg string) {
	u.mu.Lock()
	u.lines = append(u.lines, msg)
	f := u.onSay
	u.mu.Unlock()
	u.t.Logf("%6.2fs %s %s", time.Since(u.start).Seconds(), kind, msg)
	if kind == "==>" && f != nil {
		f(msg)
	}
}

func (u *testUI) Say(msg string)     { u.add("==>", msg) }
func (u *testUI) Message(msg string) { u.add("   ", msg) }
func (u *testUI) Error(msg string)   { u.add("!!!", msg) }
func (u *testUI) Stdout() plugin.WriteCloser {
	return &lineWriter{f: func(s string) { u.add("out", s) }}
}
func (u *testUI) Stderr() plugin.WriteCloser {
	return &lineWriter{f: func(s string) { u.add("err", s) }}
}
func (u *testUI) TrackProgress(label string, size int64, r plugin.ReadCloser) plugin.ReadCloser {
	return r
}

func (u *testUI) text() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return strings.Join(u.lines, "\n")
}

type lineWriter struct {
	buf bytes.Buffer
	f   func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.f(strings.TrimRight(line, "\n"))
	}
}

func (w *lineWriter) Close() error {
	if w.buf.Len() > 0 {
		w.f(w.buf.String())
		w.buf.Reset()
	}
	return nil
}

func buildEnv(ui plugin.UI, name string, provision plugin.ProvisionFunc) *plugin.BuildEnv {
	return &plugin.BuildEnv{UI: ui, Name: "qemu." + name, SourceName: name, RunUUID: "test-run", Provision: provision}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// consoleReady is the line the test VM's tty1 shell writes to its first
// serial port once it reads the keyboard (testdata/make-test-vm.sh).
const consoleReady = "imgbuild-test-vm: console ready"

// typeWhenConsoleReady makes a boot_command build type as soon as the test
// VM's console reads keys, instead of after a guessed boot_wait: QEMU's
// first serial port goes to a file, and the step runner's BeforeStep hook
// holds the typing step until the console says it is ready.
func typeWhenConsoleReady(t *testing.T, b *Builder, env *plugin.BuildEnv) {
	serial := filepath.Join(t.TempDir(), "serial.log")
	b.config.QemuArgs = append(b.config.QemuArgs, []string{"-serial", "file:" + serial})
	b.config.BootWait = time.Millisecond // Prepare would turn 0 into Packer's 10s
	env.Steps.BeforeStep = func(ctx context.Context, step string) error {
		if step != "typing the boot command" {
			return nil
		}
		start := time.Now()
		for {
			if b, _ := os.ReadFile(serial); bytes.Contains(b, []byte(consoleReady)) {
				t.Logf("the console was ready %.1fs into the wait", time.Since(start).Seconds())
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			if time.Since(start) > 2*time.Minute {
				return fmt.Errorf("the test VM's console did not say %q within 2 minutes", consoleReady)
			}
		}
	}
}

// privateTestVM is the test VM copied into dir, with its disk's checksum:
// the cache keys cover its files, and another test process may rebuild
// testdata/vm while this one runs.
func privateTestVM(t *testing.T, dir string) testVM {
	t.Helper()
	vm := needTestVM(t)
	for _, f := range []*string{&vm.disk, &vm.kernel, &vm.initrd} {
		cp := filepath.Join(dir, filepath.Base(*f))
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
	return vm
}

// cacheForTest is an empty step cache that the test's end prunes with
// imgbuild (which must leave nothing behind) and removes. Its path is
// short: the QMP socket lives in its data folder (108 bytes at most).
func cacheForTest(t *testing.T, bin, label string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "imgbuild-e2e-"+label+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd := exec.Command(bin, "cache", "prune", "--all")
		cmd.Env = append(os.Environ(), "IMGBUILD_CACHE_DIR="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("imgbuild cache prune --all (%s): %v\n%s", label, err, out)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "data", "*")); len(left) > 0 {
			t.Errorf("files left in the cache (%s) after prune --all: %v", label, left)
		}
		os.RemoveAll(dir)
	})
	return dir
}
