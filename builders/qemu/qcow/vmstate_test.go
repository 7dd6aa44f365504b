package qcow

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startMachine runs a small PC (no disk: its firmware finds nothing to
// boot and waits) with extra arguments, reachable through QMP.
func startMachine(t *testing.T, extra ...string) (*QMP, *exec.Cmd, *bytes.Buffer) {
	t.Helper()
	return runQEMU(t, append([]string{"-machine", "pc,accel=tcg", "-m", "64"}, extra...)...)
}

func status(t *testing.T, q *QMP) string {
	t.Helper()
	var st struct {
		Status string `json:"status"`
	}
	if err := q.Execute(context.Background(), "query-status", nil, &st); err != nil {
		t.Fatal(err)
	}
	return st.Status
}

// A stopped machine's state goes out through a pipe and comes back into
// another QEMU started with -incoming defer, which then runs; the first
// one can go on (cont) after the save. A truncated state is an error.
func TestStateSavedFromOneQEMURestoresInAnother(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The disk has been frozen twice, as a build's checkpoints do: the
	// chain those make must not keep QEMU from saving the state.
	dir := t.TempDir()
	active := WorkingPath(dir)
	if err := QemuImg(ctx, "create", "-f", "qcow2", active, "16M"); err != nil {
		t.Fatal(err)
	}
	drive := func(file string) []string {
		return []string{"-drive", "file=" + file + ",if=virtio,format=qcow2,discard=unmap,detect-zeroes=off"}
	}
	src, _, srcErr := startMachine(t, drive(active)...)
	disk, err := Attach(ctx, src, active)
	if err != nil {
		t.Fatal(err)
	}
	var layer string
	for i := range 2 {
		layer = filepath.Join(dir, fmt.Sprintf("layer%d.qcow2", i))
		if err := disk.Freeze(ctx, layer); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var state bytes.Buffer
	if err := src.SaveState(ctx, &state); err != nil {
		t.Fatalf("%v\n%s", err, srcErr)
	}
	if state.Len() < 1024 || !bytes.HasPrefix(state.Bytes(), []byte("QEVM")) {
		t.Fatalf("the saved state is not a QEMU migration stream (%d bytes)", state.Len())
	}
	if err := src.Cont(ctx); err != nil {
		t.Fatalf("the machine does not go on after its state was saved: %v", err)
	}
	if s := status(t, src); s != "running" {
		t.Errorf("after cont the machine is %q", s)
	}

	resumeOn := func() string {
		overlay, err := NewOverlay(ctx, dir, layer)
		if err != nil {
			t.Fatal(err)
		}
		return overlay
	}
	dst, _, _ := startMachine(t, append(drive(resumeOn()), "-incoming", "defer")...)
	if err := dst.LoadState(ctx, bytes.NewReader(state.Bytes())); err != nil {
		t.Fatal(err)
	}
	if s := status(t, dst); s != "running" {
		t.Errorf("the restored machine is %q", s)
	}

	bad, cmd, stderr := startMachine(t, append(drive(resumeOn()), "-incoming", "defer")...)
	err = bad.LoadState(ctx, bytes.NewReader(state.Bytes()[:state.Len()/2]))
	if err == nil {
		t.Fatal("a truncated state was accepted")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !strings.Contains(err.Error(), "restoring the VM state") {
		t.Errorf("the error does not say what failed: %v (%s)", err, stderr)
	}
}

// slowWriter takes its time with every write, as a loaded machine does.
type slowWriter struct{ buf bytes.Buffer }

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(30 * time.Millisecond)
	return w.buf.Write(p)
}

// A writer slower than QEMU gets the whole stream: the migration is
// complete in QEMU before the pipe is drained, and what is still in the
// pipe must not be cut off.
func TestSaveStateWaitsForTheWholeStreamWhenTheWriterIsSlow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, _, _ := startMachine(t)
	if err := src.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var w slowWriter
	if err := src.SaveState(ctx, &w); err != nil {
		t.Fatal(err)
	}
	dst, _, _ := startMachine(t, "-incoming", "defer")
	if err := dst.LoadState(ctx, bytes.NewReader(w.buf.Bytes())); err != nil {
		t.Fatalf("the state written slowly does not restore (%d bytes): %v", w.buf.Len(), err)
	}
}
