package qcow

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// startQEMU runs a QEMU with no machine and one drive on disk, reachable
// through QMP; it is killed when the test ends.
func startQEMU(t *testing.T, disk string) *QMP {
	t.Helper()
	testenv.NeedCommand(t, "qemu-img")
	q, _, _ := runQEMU(t, "-machine", "none", "-S", "-drive", "file="+disk+",if=none,id=d0,format=qcow2")
	return q
}

// runQEMU runs QEMU with args, no display and no default devices,
// reachable through QMP; it is killed when the test ends. It returns the
// process and its error output too.
func runQEMU(t *testing.T, args ...string) (*QMP, *exec.Cmd, *bytes.Buffer) {
	t.Helper()
	bin := testenv.NeedCommand(t, "qemu-system-x86_64")
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	args = append([]string{"-nodefaults", "-display", "none", "-qmp", "unix:" + sock + ",server=on,wait=off"}, args...)
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting qemu: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := DialQMP(ctx, sock)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	t.Cleanup(func() { q.Close() })
	return q, cmd, &stderr
}

// write has QEMU itself write 64 KiB of pattern at offset through the
// drive (the monitor's qemu-io), as a guest's writes would arrive.
func write(t *testing.T, q *QMP, pattern byte, offset int) {
	t.Helper()
	var out string
	cmd := fmt.Sprintf("qemu-io d0 \"write -P %#x %d 64k\"", pattern, offset)
	if err := q.Execute(context.Background(), "human-monitor-command", map[string]any{"command-line": cmd}, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "rror") {
		t.Fatalf("qemu-io: %s", out)
	}
}

// content flattens a chain to raw bytes.
func content(t *testing.T, top string) []byte {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "flat.raw")
	if err := QemuImg(context.Background(), "convert", "-U", "-O", "raw", top, raw); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFreezeKeepsEachStepAsALayerWhileTheVMRuns(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	active := filepath.Join(dir, "active-first.qcow2")
	if err := QemuImg(ctx, "create", "-f", "qcow2", active, "1M"); err != nil {
		t.Fatal(err)
	}
	q := startQEMU(t, active)

	disk, err := Attach(ctx, q, active)
	if err != nil {
		t.Fatal(err)
	}
	write(t, q, 0xa1, 0)
	layer1 := filepath.Join(dir, "key1.qcow2")
	if err := disk.Freeze(ctx, layer1); err != nil {
		t.Fatal(err)
	}
	write(t, q, 0xb2, 65536)
	layer2 := filepath.Join(dir, "key2.qcow2")
	if err := disk.Freeze(ctx, layer2); err != nil {
		t.Fatal(err)
	}

	write(t, q, 0xc3, 0) // after the last checkpoint: in no layer

	if _, err := os.Stat(active); !os.IsNotExist(err) {
		t.Errorf("the first active file is still under its old name")
	}
	l1, l2 := content(t, layer1), content(t, layer2)
	for _, c := range []struct {
		name   string
		data   []byte
		at     int
		want   byte
		reason string
	}{
		{"layer 1", l1, 0, 0xa1, "holds step 1's write"},
		{"layer 1", l1, 65536, 0, "does not hold step 2's write"},
		{"layer 2", l2, 0, 0xa1, "holds step 1's write through its backing layer, not the later 0xc3"},
		{"layer 2", l2, 65536, 0xb2, "holds step 2's write"},
	} {
		if got := c.data[c.at]; got != c.want {
			t.Errorf("%s at %d = %#x, want %#x: it %s", c.name, c.at, got, c.want, c.reason)
		}
	}

	// A rebuild starts a new overlay on layer 2 and sees both steps.
	resumed, err := NewOverlay(ctx, dir, layer2)
	if err != nil {
		t.Fatal(err)
	}
	if r := content(t, resumed); r[0] != 0xa1 || r[65536] != 0xb2 {
		t.Errorf("an overlay on layer 2 reads %#x %#x, want 0xa1 0xb2", r[0], r[65536])
	}
	if !ChainIntact(ctx, layer2) {
		t.Error("ChainIntact says layer 2's chain is broken")
	}
	os.Remove(layer1)
	if ChainIntact(ctx, layer2) {
		t.Error("ChainIntact says layer 2's chain is whole after layer 1 was removed")
	}
}
