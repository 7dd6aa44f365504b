package qemu

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/imgbuild/imgbuild/internal/steps"
)

// kvmProbeTimeout bounds the KVM check; a working KVM guest reaches the
// BIOS boot message in a fraction of a second.
const kvmProbeTimeout = 2 * time.Second

// kvmProbeTTL is how long a probe's verdict is reused from the cache file.
const kvmProbeTTL = 24 * time.Hour

// kvmProbe runs the KVM check at most once per process, in the
// background from the start of a build so that it overlaps with the
// disk and media steps.
type kvmProbe struct {
	once sync.Once
	done chan struct{}
	ok   bool
	why  string
}

var probe = &kvmProbe{done: make(chan struct{})}

// start begins the probe if it has not begun.
func (p *kvmProbe) start(binary string) {
	p.once.Do(func() {
		go func() {
			defer close(p.done)
			p.ok, p.why = kvmUsable(binary)
		}()
	})
}

func (p *kvmProbe) wait(ctx context.Context, binary string) (bool, string, error) {
	p.start(binary)
	select {
	case <-p.done:
		return p.ok, p.why, nil
	case <-ctx.Done():
		return false, "", context.Cause(ctx)
	}
}

// stepAccel picks the accelerator. KVM is used only when a guest really
// runs under it: on some hosts /dev/kvm exists but guests hang.
func stepAccel(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	switch c.Accelerator {
	case "", "kvm":
		ok, why, err := probe.wait(ctx, c.QemuBinary)
		if err != nil {
			return nil, err
		}
		switch {
		case ok:
			st.accel = "kvm"
		case c.Accelerator == "kvm":
			st.ui.Error("accelerator = \"kvm\" but " + why + ": using tcg (software emulation, much slower)")
			st.accel = "tcg"
		default:
			st.ui.Say("KVM is not usable (" + why + "): using tcg")
			st.accel = "tcg"
		}
	default:
		st.accel = c.Accelerator
	}
	return nil, nil
}

// kvmUsable tells whether a guest runs under KVM, from a cache file when a
// recent probe on this kernel answered, else by booting QEMU's BIOS with no
// disks and waiting for its "Booting from" debug line.
func kvmUsable(binary string) (bool, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, "/dev/kvm cannot be opened: " + err.Error()
	}
	f.Close()
	cache := kvmCacheFile(binary)
	if cache != "" {
		if st, err := os.Stat(cache); err == nil && time.Since(st.ModTime()) < kvmProbeTTL {
			if b, err := os.ReadFile(cache); err == nil {
				verdict, why, _ := strings.Cut(string(b), "\n")
				return verdict == "ok", why
			}
		}
	}
	ok, why := runKVMProbe(binary)
	if cache != "" && os.MkdirAll(filepath.Dir(cache), 0o755) == nil {
		verdict := "no"
		if ok {
			verdict = "ok"
		}
		_ = os.WriteFile(cache, []byte(verdict+"\n"+why), 0o644)
	}
	return ok, why
}

// kvmCacheFile names the cached verdict for this kernel and QEMU binary.
func kvmCacheFile(binary string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	var uts syscall.Utsname
	release := ""
	if syscall.Uname(&uts) == nil {
		for _, c := range uts.Release {
			if c == 0 {
				break
			}
			release += string(rune(c))
		}
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		return ""
	}
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	key := fmt.Sprintf("%s-%s-%d", release, filepath.Base(path), st.ModTime().Unix())
	return filepath.Join(dir, "imgbuild", "kvm-probe-"+strings.ReplaceAll(key, "/", "_"))
}

func runKVMProbe(binary string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), kvmProbeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-accel", "kvm", "-display", "none", "-nodefaults",
		"-no-user-config", "-m", "32", "-boot", "menu=off",
		"-debugcon", "stdio", "-global", "isa-debugcon.iobase=0x402")
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return false, err.Error()
	}
	if err := cmd.Start(); err != nil {
		return false, "starting " + binary + ": " + err.Error()
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Booting from") {
			return true, ""
		}
	}
	return false, "a test guest did not start under KVM within " + kvmProbeTimeout.String()
}
