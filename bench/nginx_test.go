package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// nginxByHandCommands are what examples/nginx's provisioners run on the
// qemu source, for the by-hand side.
var nginxByHandCommands = []string{
	"sudo DEBIAN_FRONTEND=noninteractive sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx-light >/dev/null && nginx -v'",
	"printf '<h1>%s</h1>\\n' 'Hello from imgbuild' | sudo tee /var/www/html/index.html",
}

// BenchmarkNginxQemuBuild times `imgbuild build -only qemu.*` of
// examples/nginx (the Debian VM: copy its disk, boot it, install nginx
// from Debian's mirror, write the page, shut down, compact) against the
// same steps by hand with qemu-img, qemu (same machine), OpenSSH's ssh and
// poweroff, in the same run, alternating which goes first and comparing
// the fastest of each. Target: at most 1.1x.
func BenchmarkNginxQemuBuild(b *testing.B) {
	for _, c := range []string{"qemu-system-x86_64", "qemu-img", "ssh"} {
		testenv.NeedCommand(b, c)
	}
	vm := testenv.DebianVM(b)
	bin := testenv.Binary(b)
	example := filepath.Join(testenv.RepoRoot(), "examples", "nginx")
	accel := "tcg"
	var built, byHand []time.Duration
	timeBuild := func() {
		work := b.TempDir()
		cmd := exec.Command(bin, "build", "-only", "qemu.*", "-var", "debian_vm="+vm.Dir, "-var", "debian_vm_cmdline="+vm.SystemdAppend, example)
		cmd.Dir = work
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("imgbuild build: %v\n%s", err, out)
		}
		built = append(built, time.Since(start))
		if m := usedAccel.FindSubmatch(out); m != nil {
			accel = string(m[1])
		}
	}
	timeByHand := func() {
		start := time.Now()
		nginxByHand(b, vm, b.TempDir(), accel)
		byHand = append(byHand, time.Since(start))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			timeBuild()
			timeByHand()
		} else {
			timeByHand()
			timeBuild()
		}
	}
	b.StopTimer()
	bmin, hmin := slices.Min(built), slices.Min(byHand)
	b.ReportMetric(bmin.Seconds(), "s-build")
	b.ReportMetric(hmin.Seconds(), "s-byhand")
	b.ReportMetric(float64(bmin)/float64(hmin), "x-byhand")
}

func nginxByHand(b *testing.B, vm testenv.DebianVMFiles, out, accel string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	disk := filepath.Join(out, "nginx.qcow2")
	qemuRun(b, "qemu-img", "convert", "-O", "qcow2", vm.Disk, disk)
	qemu := exec.Command("qemu-system-x86_64",
		"-machine", "type=pc,accel="+accel,
		"-netdev", "user,id=user.0,hostfwd=tcp::"+port+"-:22", "-device", "virtio-net,netdev=user.0",
		"-drive", "file="+disk+",cache=writeback,discard=ignore,detect-zeroes=off,format=qcow2,if=virtio",
		"-display", "none", "-m", "1024M", "-smp", "cpus=2",
		"-kernel", vm.Kernel, "-initrd", vm.Initrd, "-append", vm.SystemdAppend)
	if err := qemu.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- qemu.Wait() }()
	defer func() { _ = qemu.Process.Kill() }()
	ssh := func(command string) error {
		out, err := exec.Command("ssh", "-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=1",
			"-i", vm.Key, "-p", port, vm.User+"@127.0.0.1", command).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	for deadline := time.Now().Add(5 * time.Minute); ssh("true") != nil; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("by hand: SSH did not answer")
		}
	}
	for _, c := range nginxByHandCommands {
		if err := ssh(c); err != nil {
			b.Fatalf("by hand: %s: %v", c, err)
		}
	}
	_ = ssh("sudo poweroff")
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
