package qemu

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// cliTemplate is a disk_image build of the test VM with an inline shell
// provisioner.
func cliTemplate(vm testVM, name, outDir, inline string) string {
	return cliSource(vm, "vm", name, outDir) + fmt.Sprintf(`
build {
  sources = ["source.qemu.vm"]
  provisioner "shell" {
    inline = [%q]
  }
}
`, inline)
}

// cliSource is a qemu source block, source, booting the test VM's disk
// into vm_name name with output_directory outDir.
func cliSource(vm testVM, source, name, outDir string) string {
	return fmt.Sprintf(`
source "qemu" %q {
  iso_url          = %q
  iso_checksum     = "sha256:%s"
  disk_image       = true
  headless         = true
  output_directory = %q
  vm_name          = %q
  ssh_username     = "root"
  ssh_password     = %q
  ssh_timeout      = "3m"
  shutdown_command = "poweroff"
  qemuargs = [["-kernel", %q], ["-initrd", %q], ["-append", "root=/dev/vda quiet"]]
}
`, source, vm.disk, vm.diskSHA256, outDir, name, vm.password, vm.kernel, vm.initrd)
}

var sshPortLine = regexp.MustCompile(`Waiting for SSH on 127\.0\.0\.1:(\d+)`)

// TestCLIInterruptAndFailureLeaveNothing runs `imgbuild build` on a qemu
// template and checks that Ctrl-C (SIGINT) during boot, and a failing
// provisioner, each leave no qemu process, no forwarded port and no
// output directory.
func TestCLIInterruptAndFailureLeaveNothing(t *testing.T) {
	vm := needTestVM(t)
	bin := testenv.Binary(t)
	tests := []struct {
		name      string
		inline    string
		interrupt bool
		wantOut   string
	}{
		{"SIGINT while waiting for SSH", "true", true, ""},
		{"failing provisioner", "echo failing on purpose; exit 3", false, "failing on purpose"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			name := uniqueName(t)
			out := filepath.Join(dir, "output")
			tpl := filepath.Join(dir, "build.pkr.hcl")
			if err := os.WriteFile(tpl, []byte(cliTemplate(vm, name, out, tt.inline)), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "build", "-color=false", tpl)
			cmd.Dir = dir
			pr, pw := io.Pipe()
			cmd.Stdout, cmd.Stderr = pw, pw
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var port string
			var text strings.Builder
			done := make(chan error, 1)
			go func() { done <- cmd.Wait(); pw.Close() }()
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				line := sc.Text()
				text.WriteString(line + "\n")
				if m := sshPortLine.FindStringSubmatch(line); m != nil {
					port = m[1]
					if tt.interrupt {
						time.Sleep(500 * time.Millisecond)
						_ = cmd.Process.Signal(syscall.SIGINT)
					}
				}
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(3 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("imgbuild did not exit:\n%s", text.String())
			}
			t.Logf("output:\n%s", text.String())
			if err == nil {
				t.Fatal("imgbuild build exited 0")
			}
			if port == "" {
				t.Fatal("the build never waited for SSH")
			}
			if tt.wantOut != "" && !strings.Contains(text.String(), tt.wantOut) {
				t.Errorf("output lacks %q", tt.wantOut)
			}
			if qemuRunning(name) {
				t.Errorf("a qemu process named %s still runs", name)
			}
			if portOpen(port) {
				t.Errorf("the forwarded SSH port %s still accepts connections", port)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output directory %s was left behind (stat: %v)", out, err)
			}
		})
	}
}

// runCLI runs `imgbuild build` with args on a failing-provisioner build of
// the test VM, calling onLine with each output line, and returns the
// output and the QEMU vm_name.
func runCLI(t *testing.T, vm testVM, out string, onLine func(cmd *exec.Cmd, line string), args ...string) (string, string) {
	t.Helper()
	bin := testenv.Binary(t)
	dir := t.TempDir()
	name := uniqueName(t)
	// Whatever happens, no VM outlives the test.
	t.Cleanup(func() { killQemu(name) })
	tpl := filepath.Join(dir, "build.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(cliTemplate(vm, name, out, "echo failing on purpose; exit 3")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(append([]string{"build", "-color=false"}, args...), tpl)...)
	cmd.Dir = dir
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); pw.Close(); close(done) }()
	var text strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		text.WriteString(sc.Text() + "\n")
		onLine(cmd, sc.Text())
	}
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("imgbuild did not exit:\n%s", text.String())
	}
	t.Logf("output:\n%s", text.String())
	return text.String(), name
}

// killQemu kills every QEMU whose command line holds name.
func killQemu(name string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), name) && strings.Contains(string(b), "qemu-system") {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

var leftRunningLine = regexp.MustCompile(`QEMU \(pid (\d+)\) was left running for inspection`)

// TestCLIOnErrorAbortLeavesTheVMRunningForInspection: as with Packer, a
// failed build under -on-error=abort leaves the VM running (SSH still
// answers) and its output directory in place, and says how to stop it.
func TestCLIOnErrorAbortLeavesTheVMRunningForInspection(t *testing.T) {
	vm := needTestVM(t)
	out := filepath.Join(t.TempDir(), "output")
	var port string
	text, name := runCLI(t, vm, out, func(_ *exec.Cmd, line string) {
		if m := sshPortLine.FindStringSubmatch(line); m != nil {
			port = m[1]
		}
	}, "-on-error=abort")
	m := leftRunningLine.FindStringSubmatch(text)
	if m == nil {
		t.Fatal("imgbuild did not say that it left QEMU running")
	}
	if !strings.Contains(text, "kill "+m[1]) || !strings.Contains(text, "ssh -p "+port+" root@127.0.0.1") {
		t.Errorf("the output does not say how to reach and stop the VM")
	}
	// imgbuild has exited: the VM must still run and answer on SSH.
	time.Sleep(time.Second)
	if !qemuRunning(name) {
		t.Fatal("QEMU did not outlive imgbuild")
	}
	if !portOpen(port) {
		t.Errorf("the forwarded SSH port %s does not answer", port)
	}
	if _, err := os.Stat(filepath.Join(out, name)); err != nil {
		t.Errorf("the output directory's disk is gone: %v", err)
	}
	pid, _ := strconv.Atoi(m[1])
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Errorf("the pid imgbuild printed cannot be signalled: %v", err)
	}
	for i := 0; i < 50 && qemuRunning(name); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if qemuRunning(name) {
		t.Errorf("QEMU did not stop after `kill %d`", pid)
	}
}

// TestCLIKilledImgbuildTakesQemuWithIt: even SIGKILL, which leaves no
// chance to clean up, does not leave a VM running; the output directory
// it leaves is in the ledger, and imgbuild cleanup removes it.
func TestCLIKilledImgbuildTakesQemuWithIt(t *testing.T) {
	vm := needTestVM(t)
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // a ledger of the test's own
	out := filepath.Join(t.TempDir(), "output")
	_, name := runCLI(t, vm, out, func(cmd *exec.Cmd, line string) {
		if sshPortLine.MatchString(line) {
			_ = cmd.Process.Kill()
		}
	})
	for i := 0; i < 50 && qemuRunning(name); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if qemuRunning(name) {
		t.Error("QEMU still runs 5s after imgbuild was killed")
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("the killed build left no output directory to clean up: %v", err)
	}
	cleanup, err := exec.Command(testenv.Binary(t), "cleanup").CombinedOutput()
	if err != nil || !strings.Contains(string(cleanup), "removed qemu output directory "+out) {
		t.Errorf("imgbuild cleanup: %v\n%s", err, cleanup)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the output directory is still there after cleanup (%v)", err)
	}
}
