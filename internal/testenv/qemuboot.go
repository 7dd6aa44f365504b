package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/wait"
)

// QEMUBoot is a Linux guest to boot by direct kernel boot: an image test's
// VM, or a stand-in for a cloud instance.
type QEMUBoot struct {
	Disk, Kernel, Initrd, Append string
	// Forward are guest TCP ports to reach from the host on 127.0.0.1.
	Forward []int
	// MemoryMB defaults to 1024.
	MemoryMB int
}

// BootQEMU boots b under TCG with -snapshot (the disk is not written),
// waits until the guest's SSH server greets on port 22 (which must be in
// Forward), and returns the host port of each forwarded guest port. The
// VM is killed when the test ends.
func BootQEMU(t testing.TB, b QEMUBoot) map[int]int {
	t.Helper()
	NeedCommand(t, "qemu-system-x86_64")
	if b.MemoryMB == 0 {
		b.MemoryMB = 1024
	}
	ports := map[int]int{}
	netdev := "user,id=n0"
	for _, guest := range b.Forward {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[guest] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", ports[guest], guest)
	}
	if ports[22] == 0 {
		t.Fatal("BootQEMU: forward port 22, it tells when the guest is up")
	}
	// The serial console (the guest's boot messages) and QEMU's errors.
	console, qemuErr := &SyncBuffer{}, &SyncBuffer{}
	cmd := exec.Command("qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", strconv.Itoa(b.MemoryMB), "-smp", "2",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-snapshot", "-no-reboot",
		"-kernel", b.Kernel, "-initrd", b.Initrd, "-append", b.Append,
		"-drive", "file="+b.Disk+",if=virtio,format=qcow2",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=n0")
	cmd.Stdout, cmd.Stderr = console, qemuErr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting qemu: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// Waiting ends early, with its cause, if QEMU exits.
	errExited := errors.New("qemu exited before the guest was up")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		select {
		case <-exited:
			cancel(errExited)
		case <-ctx.Done():
		}
	}()
	addr := "127.0.0.1:" + strconv.Itoa(ports[22])
	if err := wait.ForGreeting(ctx, addr, "SSH-", 4*time.Minute); err != nil {
		t.Fatalf("the guest's SSH server did not answer: %v: %s\nconsole:\n%s", err, qemuErr, console)
	}
	return ports
}
