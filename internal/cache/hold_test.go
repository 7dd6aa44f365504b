package cache

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A helper process for TestHoldSweepsTheDiskOfAKilledBuild: it holds the
// store, writes a working file as a build's VM would, says so, and waits
// to be killed.
func TestHelperHoldingBuild(t *testing.T) {
	dir := os.Getenv("IMGBUILD_CACHE_HELPER_DIR")
	if dir == "" {
		return // only as the helper process
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Hold(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.DataDir(), WorkingPrefix+"helper.qcow2"), []byte("disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	sockets := filepath.Join(s.DataDir(), WorkingPrefix+"qmp-helper") // a folder, as qemu's QMP socket's
	if err := os.MkdirAll(sockets, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sockets, "qmp.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("holding\n")
	time.Sleep(time.Minute)
}

func TestHoldSweepsTheDiskOfAKilledBuild(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	layer := s.DataPath("k1", ".qcow2") // a checkpoint: never swept
	if err := os.WriteFile(layer, []byte("layer"), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldingBuild$")
	cmd.Env = append(os.Environ(), "IMGBUILD_CACHE_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "holding") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper did not start holding the store: %q", buf[:n])
	}
	working := filepath.Join(s.DataDir(), WorkingPrefix+"helper.qcow2")

	// While the build runs, its disk is kept.
	swept, busy, err := s.SweepLeftovers()
	if err != nil || !busy || len(swept) != 0 {
		t.Fatalf("SweepLeftovers during a build = %v, busy %v, %v; want nothing swept, busy", swept, busy, err)
	}
	release, swept, err := s.Hold()
	if err != nil || len(swept) != 0 {
		t.Fatalf("Hold beside a running build swept %v (%v); want nothing", swept, err)
	}
	release()
	if _, err := os.Stat(working); err != nil {
		t.Fatalf("the running build's disk is gone: %v", err)
	}

	// SIGKILL: no cleanup runs, the kernel drops the lock.
	cmd.Process.Kill()
	cmd.Wait()
	release, swept, err = s.Hold()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	sockets := filepath.Join(s.DataDir(), WorkingPrefix+"qmp-helper")
	if len(swept) != 2 {
		t.Errorf("Hold after the build was killed swept %v, want its disk and its socket folder", swept)
	}
	for _, p := range []string{working, sockets} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("the killed build's %s is still there: %v", p, err)
		}
	}
	if _, err := os.Stat(layer); err != nil {
		t.Errorf("the checkpoint layer was swept too: %v", err)
	}
}

func TestSweepWaitsForEveryHolder(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := s.Hold()
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := s.Hold()
	if err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(s.DataDir(), WorkingPrefix+"x.qcow2")
	os.WriteFile(leftover, nil, 0o644)
	first()
	if _, busy, _ := s.SweepLeftovers(); !busy {
		t.Error("SweepLeftovers with one holder left: not busy")
	}
	second()
	swept, busy, err := s.SweepLeftovers()
	if err != nil || busy || len(swept) != 1 {
		t.Errorf("SweepLeftovers with no holder = %v, busy %v, %v; want the leftover swept", swept, busy, err)
	}
}
