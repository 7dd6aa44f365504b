package qemu

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// cliTemplate is a disk_image build of the test VM with an inline shell
// provisioner.
func cliTemplate(vm testVM, name, outDir, inline string) string {
	return fmt.Sprintf(`
source "qemu" "vm" {
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

build {
  sources = ["source.qemu.vm"]
  provisioner "shell" {
    inline = [%q]
  }
}
`, vm.disk, vm.diskSHA256, outDir, name, vm.password, vm.kernel, vm.initrd, inline)
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
