package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// VCSimPath returns the vCenter simulator that scripts/test-setup.sh builds
// from testdata/vcsim, or calls Unavailable.
func VCSimPath(t testing.TB) string {
	t.Helper()
	path := filepath.Join(StateDir(), "vcsim", "vcsim")
	if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
		Unavailable(t, "the vCenter simulator is not built at "+path+" (scripts/test-setup.sh builds it from testdata/vcsim)")
	}
	return path
}

// StartVCSim starts VMware's vCenter simulator on a free loopback port and
// stops it when the test ends. It returns the SDK URL with the login,
// https://user:pass@127.0.0.1:PORT/sdk (a self-signed certificate: set
// insecure_connection). The inventory is vcsim's default: datacenter DC0,
// cluster DC0_C0, host DC0_H0, VMs DC0_H0_VM0 and DC0_H0_VM1, datastore
// LocalDS_0. The simulator dies with the test process, even after kill -9.
func StartVCSim(t testing.TB) (url string) {
	t.Helper()
	cmd := exec.Command(VCSimPath(t), "-listen", "127.0.0.1:0")
	// Its datastore folders go into the test's own folder, so that even a
	// killed simulator leaves nothing behind.
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr SyncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting vcsim: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("vcsim did not stop within 10 s of SIGTERM; killed it")
		}
	})

	first := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		first <- strings.TrimSpace(line)
	}()
	select {
	case url = <-first:
	case <-time.After(30 * time.Second):
		t.Fatalf("vcsim printed no URL within 30 s; stderr:\n%s", stderr.String())
	}
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("vcsim did not start (printed %q); stderr:\n%s", url, stderr.String())
	}
	return url
}

// VCSimVM is a virtual machine the simulator holds.
type VCSimVM struct {
	Path     string // inventory path, e.g. /DC0/vm/DC0_H0_VM0
	Template bool   // marked as a template (convert_to_template)
}

// VCSimVMs lists the virtual machines of the simulator at url (from
// StartVCSim), with govmomi's client inside the simulator's program.
func VCSimVMs(t testing.TB, url string) []VCSimVM {
	t.Helper()
	out, err := exec.Command(VCSimPath(t), "vms", url).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("listing the simulator's VMs: %v\n%s", err, stderr)
	}
	var vms []VCSimVM
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, kind, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("vcsim vms printed %q", line)
		}
		vms = append(vms, VCSimVM{Path: path, Template: kind == "template"})
	}
	return vms
}

// String is the VM's path, marked "(template)" for a template.
func (v VCSimVM) String() string {
	if v.Template {
		return fmt.Sprintf("%s (template)", v.Path)
	}
	return v.Path
}
