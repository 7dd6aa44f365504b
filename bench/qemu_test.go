package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/builders/qemu"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// The work both sides do on the booted test VM.
const qemuBenchCommand = "echo provisioned > /root/bench.txt && sync"

// BenchmarkQemuDiskImageBuild times a disk_image build (copy the image,
// boot it, wait for SSH, run a command, shut down, compact) against the
// same steps done by hand with qemu-img, qemu (same arguments), OpenSSH's
// ssh client and poweroff, in the same run. Target: at most 1.1x.
func BenchmarkQemuDiskImageBuild(b *testing.B) {
	for _, c := range []string{"qemu-system-x86_64", "qemu-img", "ssh"} {
		testenv.NeedCommand(b, c)
	}
	root := testenv.RepoRoot()
	if out, err := exec.Command(filepath.Join(root, "testdata", "make-test-vm.sh")).CombinedOutput(); err != nil {
		testenv.Unavailable(b, fmt.Sprintf("the test VM could not be built: %v: %s", err, out))
	}
	vm := filepath.Join(root, "testdata", "vm")
	ctx := context.Background()
	// Both sides boot a VM under TCG on a shared machine, so single runs
	// are noisy: alternate which side goes first and compare the fastest
	// run of each. The first run is the builder's, which tells the
	// accelerator the by-hand runs use.
	var builder, byHand []time.Duration
	accel := ""
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		timeBuilder := func() {
			start := time.Now()
			accel = runQemuBuilder(ctx, b, vm, filepath.Join(dir, "built"))
			builder = append(builder, time.Since(start))
		}
		timeByHand := func() {
			start := time.Now()
			runQemuByHand(b, vm, filepath.Join(dir, "byhand"), accel)
			byHand = append(byHand, time.Since(start))
		}
		if i%2 == 0 {
			timeBuilder()
			timeByHand()
		} else {
			timeByHand()
			timeBuilder()
		}
	}
	bmin, hmin := slices.Min(builder), slices.Min(byHand)
	b.ReportMetric(bmin.Seconds(), "s-build")
	b.ReportMetric(hmin.Seconds(), "s-byhand")
	b.ReportMetric(float64(bmin)/float64(hmin), "x-byhand")
}

// runQemuBuilder builds with the qemu builder and returns the accelerator
// it chose.
func runQemuBuilder(ctx context.Context, b *testing.B, vm, out string) string {
	bl, _ := plugin.NewBuilder("qemu")
	c := bl.Config().(*qemu.Config)
	c.ISOURL = filepath.Join(vm, "disk.qcow2")
	c.ISOChecksum = "none"
	c.DiskImage = true
	c.Headless = true
	c.OutputDir = out
	c.VMName = "bench.qcow2"
	c.SSHUsername = "root"
	c.SSHPrivateKeyFile = filepath.Join(vm, "id_ed25519")
	c.ShutdownCommand = "poweroff"
	c.QemuArgs = [][]string{{"-kernel", filepath.Join(vm, "vmlinuz")}, {"-initrd", filepath.Join(vm, "initrd.img")}, {"-append", "root=/dev/vda quiet"}}
	if _, err := bl.Prepare(); err != nil {
		b.Fatal(err)
	}
	ui := &qemuQuietUI{}
	env := &plugin.BuildEnv{UI: ui, Name: "qemu.bench", SourceName: "bench", RunUUID: "bench",
		Provision: func(ctx context.Context, comm communicator.Communicator, data plugin.GeneratedData) error {
			status, err := comm.Run(ctx, &communicator.Cmd{Command: qemuBenchCommand})
			if err == nil && status != 0 {
				err = fmt.Errorf("exit status %d", status)
			}
			return err
		}}
	if _, err := bl.Run(ctx, env); err != nil {
		b.Fatalf("qemu build: %v", err)
	}
	return ui.accel
}

// runQemuByHand does the builder's work with the command-line tools.
func runQemuByHand(b *testing.B, vm, out, accel string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	if err := os.MkdirAll(out, 0o755); err != nil {
		b.Fatal(err)
	}
	disk := filepath.Join(out, "disk.qcow2")
	qemuRun(b, "qemu-img", "convert", "-O", "qcow2", filepath.Join(vm, "disk.qcow2"), disk)
	qemu := exec.Command("qemu-system-x86_64",
		"-machine", "type=pc,accel="+accel,
		"-netdev", "user,id=user.0,hostfwd=tcp::"+port+"-:22", "-device", "virtio-net,netdev=user.0",
		"-drive", "file="+disk+",cache=writeback,discard=ignore,detect-zeroes=off,format=qcow2,if=virtio",
		"-display", "none", "-m", "512M", "-smp", "cpus=1",
		"-kernel", filepath.Join(vm, "vmlinuz"), "-initrd", filepath.Join(vm, "initrd.img"), "-append", "root=/dev/vda quiet")
	if err := qemu.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- qemu.Wait() }()
	defer func() { _ = qemu.Process.Kill() }()
	ssh := func(command string) error {
		return exec.Command("ssh", "-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=1",
			"-i", filepath.Join(vm, "id_ed25519"), "-p", port, "root@127.0.0.1", command).Run()
	}
	deadline := time.Now().Add(3 * time.Minute)
	for ssh("true") != nil {
		if time.Now().After(deadline) {
			b.Fatal("by hand: SSH did not answer")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := ssh(qemuBenchCommand); err != nil {
		b.Fatalf("by hand: %v", err)
	}
	_ = ssh("poweroff")
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatal("by hand: the VM did not power off")
	}
	qemuRun(b, "qemu-img", "convert", "-O", "qcow2", disk, disk+".compact")
	if err := os.Rename(disk+".compact", disk); err != nil {
		b.Fatal(err)
	}
}

func qemuRun(b *testing.B, name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s: %v: %s", name, err, out)
	}
}

// qemuQuietUI discards output but notes the accelerator the builder chose.
type qemuQuietUI struct{ accel string }

func (u *qemuQuietUI) Say(msg string) {
	if os.Getenv("QEMU_BENCH_DEBUG") != "" {
		fmt.Fprintln(os.Stderr, time.Now().Format("15:04:05.000"), msg)
	}
	var a string
	if n, _ := fmt.Sscanf(msg, "Starting qemu (accelerator %s", &a); n == 1 {
		u.accel = a[:len(a)-1]
	}
}
func (u *qemuQuietUI) Message(string)             {}
func (u *qemuQuietUI) Error(string)               {}
func (u *qemuQuietUI) Stdout() plugin.WriteCloser { return qemuNopWriter{} }
func (u *qemuQuietUI) Stderr() plugin.WriteCloser { return qemuNopWriter{} }
func (u *qemuQuietUI) TrackProgress(_ string, _ int64, r plugin.ReadCloser) plugin.ReadCloser {
	return r
}

type qemuNopWriter struct{}

func (qemuNopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (qemuNopWriter) Close() error                { return nil }
