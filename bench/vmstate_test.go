package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/wait"
)

// debianCacheTemplate: the Debian bookworm VM (systemd) with three
// provisioners, the last one's content from a variable.
const debianCacheTemplate = `
variable "out" { type = string }
variable "last" {
  type    = string
  default = "v1"
}
source "qemu" "debian" {
  iso_url              = "%[1]s"
  iso_checksum         = "sha256:%[2]s"
  disk_image           = true
  headless             = true
  output_directory     = var.out
  memory               = 1024
  cpus                 = 2
  ssh_username         = "debian"
  ssh_private_key_file = "%[3]s"
  ssh_timeout          = "4m"
  shutdown_command     = "sudo poweroff"
  qemuargs = [["-kernel", "%[4]s"], ["-initrd", "%[5]s"], ["-append", "%[6]s"]]
}
build {
  sources = ["source.qemu.debian"]
  provisioner "shell" {
    inline = ["dd if=/dev/urandom bs=1M count=8 2>/dev/null | gzip -1 > /tmp/a.gz && sudo mv /tmp/a.gz /root/"]
  }
  provisioner "shell" {
    inline = ["dd if=/dev/urandom bs=1M count=8 2>/dev/null | gzip -1 > /tmp/b.gz && sudo mv /tmp/b.gz /root/"]
  }
  provisioner "shell" {
    inline = ["echo ${var.last} | sudo tee /root/last"]
  }
}
`

var usedAccel = regexp.MustCompile(`Starting qemu \(accelerator (\w+)\)`)

var restoreTook = regexp.MustCompile(`Resumed the VM from the state saved .* in (\S+): no boot`)

// BenchmarkQemuResumeDebian measures the VM states of -cache on a guest
// with a real init system: the Debian VM's boot-to-SSH time under QEMU by
// hand (a floor no build can beat when it boots), and, as ratios to a cold
// build, a rebuild whose last step changed resumed from the VM state and
// the same rebuild booting (-cache-vm-states 0); the restore's own time is
// reported as imgbuild measures it.
func BenchmarkQemuResumeDebian(b *testing.B) {
	testenv.NeedCommand(b, "qemu-system-x86_64")
	vm := testenv.DebianVM(b)
	bin := testenv.Binary(b)
	sum, err := exec.Command("sha256sum", vm.Disk).Output()
	if err != nil {
		b.Fatal(err)
	}
	tpl := filepath.Join(b.TempDir(), "debian.pkr.hcl")
	content := fmt.Sprintf(debianCacheTemplate, vm.Disk, strings.Fields(string(sum))[0], vm.Key, vm.Kernel, vm.Initrd, vm.SystemdAppend)
	if err := os.WriteFile(tpl, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
	cacheDir := b.TempDir()
	env := append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
	work := b.TempDir()
	run := func(args ...string) (time.Duration, string) {
		b.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = work, env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("imgbuild %v: %v\n%s", args, err, out)
		}
		return time.Since(start), string(out)
	}
	n := 0
	build := func(flags ...string) (time.Duration, string) {
		n++
		return run(append(append([]string{"build", "-var", fmt.Sprintf("out=%s/out-%d", work, n)}, flags...), tpl)...)
	}
	b.Cleanup(func() { run("cache", "prune", "--all") })

	var boot, cold, resumed, booting, restore time.Duration
	var stateBytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, out := build("-cache")
		cold += d
		stateBytes += vmStateBytes(b, cacheDir)
		// By hand with the accelerator imgbuild chose (KVM only where a
		// guest really runs under it).
		accel := "tcg"
		if m := usedAccel.FindStringSubmatch(out); m != nil {
			accel = m[1]
		}
		boot += debianBootToSSH(b, accel, vm.Disk, vm.Kernel, vm.Initrd, vm.SystemdAppend)
		d, out = build("-cache", "-var", "last=v2")
		resumed += d
		m := restoreTook.FindStringSubmatch(out)
		if m == nil {
			b.Fatalf("the rebuild did not resume the VM:\n%s", out)
		}
		r, _ := time.ParseDuration(m[1])
		restore += r
		d, _ = build("-cache", "-cache-vm-states", "0", "-var", "last=v3")
		booting += d
		b.StopTimer()
		run("cache", "prune", "--all")
		b.StartTimer()
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(per(boot), "s-boot-to-ssh")
	b.ReportMetric(per(restore), "s-restore")
	b.ReportMetric(per(cold), "s-cold")
	b.ReportMetric(float64(resumed)/float64(cold), "x-last-changed")
	b.ReportMetric(float64(booting)/float64(cold), "x-last-changed-booting")
	b.ReportMetric(float64(stateBytes)/1e6/float64(b.N), "MB-vm-states")
}

// debianBootToSSH boots the Debian VM by hand (no imgbuild) and times it
// until its SSH server greets, then kills it.
func debianBootToSSH(b *testing.B, accel, disk, kernel, initrd, appendLine string) time.Duration {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	start := time.Now()
	cmd := exec.Command("qemu-system-x86_64", "-machine", "pc,accel="+accel, "-m", "1024", "-smp", "2",
		"-display", "none", "-snapshot", "-kernel", kernel, "-initrd", initrd, "-append", appendLine,
		"-drive", "file="+disk+",if=virtio,format=qcow2",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22", port), "-device", "virtio-net-pci,netdev=n0")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := wait.ForGreeting(context.Background(), "127.0.0.1:"+strconv.Itoa(port), "SSH-", 5*time.Minute); err != nil {
		b.Fatalf("the Debian VM's SSH server: %v", err)
	}
	return time.Since(start)
}
