package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/imgbuild/imgbuild/internal/steps"
	"github.com/imgbuild/imgbuild/internal/tempdir"
)

// kvmProbeTimeout bounds each run of the test guest. Under a working KVM
// it finishes in a fraction of a second; under TCG in about a tenth.
var kvmProbeTimeout = 3 * time.Second

// kvmDevice is the device a KVM guest needs (a variable for the tests).
var kvmDevice = "/dev/kvm"

// kvmProbeTTL is how long a definite verdict is reused from its cache file.
const kvmProbeTTL = 24 * time.Hour

// kvmVerdict is what a probe found.
type kvmVerdict struct {
	ok  bool
	why string // why not, when !ok
	// definite: the answer is not an artefact of a busy host, so it may
	// be cached. A probe that only ran out of time is not definite: the
	// next run probes again.
	definite bool
}

// kvmProbe is the check of one QEMU binary, run at most once per process
// and in the background from the start of a build, so that it overlaps
// with the disk and media steps.
type kvmProbe struct {
	once    sync.Once
	done    chan struct{}
	verdict kvmVerdict
}

var (
	probesMu sync.Mutex
	probes   = map[string]*kvmProbe{} // by qemu_binary
)

// probeFor returns the probe of binary, started.
func probeFor(binary string) *kvmProbe {
	probesMu.Lock()
	p, ok := probes[binary]
	if !ok {
		p = &kvmProbe{done: make(chan struct{})}
		probes[binary] = p
	}
	probesMu.Unlock()
	p.once.Do(func() {
		go func() {
			defer close(p.done)
			p.verdict = kvmUsable(binary)
		}()
	})
	return p
}

func (p *kvmProbe) wait(ctx context.Context) (kvmVerdict, error) {
	select {
	case <-p.done:
		return p.verdict, nil
	case <-ctx.Done():
		return kvmVerdict{}, context.Cause(ctx)
	}
}

// stepAccel picks the accelerator. KVM is used only when a guest really
// runs under it at a useful speed: on some hosts /dev/kvm exists but
// guests hang, or crawl.
func stepAccel(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	switch c.Accelerator {
	case "", "kvm":
		v, err := probeFor(c.QemuBinary).wait(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case v.ok:
			st.accel = "kvm"
		case c.Accelerator == "kvm":
			st.ui.Error("accelerator = \"kvm\" but " + v.why + ": using tcg (software emulation, much slower)")
			st.accel = "tcg"
		default:
			st.ui.Say("KVM is not usable (" + v.why + "): using tcg")
			st.accel = "tcg"
		}
	default:
		st.accel = c.Accelerator
	}
	return nil, nil
}

// kvmUsable tells whether a guest runs under KVM with binary: from a
// cache file when a recent probe of this binary on this kernel gave a
// definite answer, else by running the test guest.
func kvmUsable(binary string) kvmVerdict {
	f, err := os.OpenFile(kvmDevice, os.O_RDWR, 0)
	if err != nil {
		return kvmVerdict{why: kvmDevice + " cannot be opened: " + err.Error(), definite: true}
	}
	f.Close()
	path, err := exec.LookPath(binary)
	if err != nil {
		return kvmVerdict{why: "qemu_binary " + binary + " not found: " + err.Error()}
	}
	cache := kvmCacheFile(path)
	if v, ok := readKVMVerdict(cache); ok {
		return v
	}
	v := runKVMProbe(context.Background(), path)
	if v.definite && cache != "" {
		writeKVMVerdict(cache, v)
	}
	return v
}

// kvmCacheFile names the cached verdict for this kernel and this QEMU
// binary (its path, size and modification time: an upgraded QEMU is
// probed afresh). "" when there is no cache directory.
func kvmCacheFile(path string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	var uts syscall.Utsname
	var release strings.Builder
	if syscall.Uname(&uts) == nil {
		for _, c := range uts.Release {
			if c == 0 {
				break
			}
			release.WriteByte(byte(c))
		}
	}
	abs, _ := filepath.Abs(path)
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d\x00%d", release.String(), abs, st.Size(), st.ModTime().UnixNano())))
	return filepath.Join(dir, "imgbuild", "kvm-probe-"+hex.EncodeToString(sum[:12]))
}

func readKVMVerdict(cache string) (kvmVerdict, bool) {
	if cache == "" {
		return kvmVerdict{}, false
	}
	st, err := os.Stat(cache)
	if err != nil || time.Since(st.ModTime()) >= kvmProbeTTL {
		return kvmVerdict{}, false
	}
	b, err := os.ReadFile(cache)
	if err != nil {
		return kvmVerdict{}, false
	}
	verdict, why, _ := strings.Cut(string(b), "\n")
	if verdict != "ok" && verdict != "no" {
		return kvmVerdict{}, false
	}
	return kvmVerdict{ok: verdict == "ok", why: why, definite: true}, true
}

func writeKVMVerdict(cache string, v kvmVerdict) {
	if os.MkdirAll(filepath.Dir(cache), 0o700) != nil {
		return
	}
	verdict := "no"
	if v.ok {
		verdict = "ok"
	}
	// Best effort: without it the next build probes again.
	_ = os.WriteFile(cache, []byte(verdict+"\n"+v.why), 0o600)
}

// runKVMProbe runs the test guest under KVM and, at the same time (so
// that both see the same load), under TCG. KVM is usable when its guest
// finishes in time. When it does not, the TCG run says why: if software
// emulation finished, KVM is broken or emulated here (definite); if it
// did not either, the host is only busy (not definite).
func runKVMProbe(ctx context.Context, binary string) kvmVerdict {
	img, removeImg, err := tempdir.File("imgbuild-kvm-probe-*.bin")
	if err != nil {
		return kvmVerdict{why: "writing the KVM test guest: " + err.Error()}
	}
	defer removeImg()
	_, err = img.Write(probeGuest)
	if cerr := img.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return kvmVerdict{why: "writing the KVM test guest: " + err.Error()}
	}
	tcgCtx, cancelTCG := context.WithCancel(ctx)
	defer cancelTCG()
	tcg := make(chan guestRun, 1)
	go func() { tcg <- runProbeGuest(tcgCtx, binary, "tcg", img.Name()) }()
	kvm := runProbeGuest(ctx, binary, "kvm", img.Name())
	if !kvm.timedOut {
		cancelTCG()
		<-tcg // no QEMU outlives the probe
		if kvm.finished {
			return kvmVerdict{ok: true, definite: true}
		}
		return kvmVerdict{why: "QEMU could not run a guest under KVM: " + kvm.failure, definite: true}
	}
	if t := <-tcg; t.finished {
		return kvmVerdict{why: fmt.Sprintf("a test guest did not finish under KVM within %s but did under software emulation in %s: KVM is emulated or broken here", kvmProbeTimeout, t.took.Round(time.Millisecond)), definite: true}
	}
	return kvmVerdict{why: fmt.Sprintf("a test guest finished neither under KVM nor under software emulation within %s: the host is busy; KVM is probed again next time", kvmProbeTimeout)}
}

// guestRun is how one run of the test guest ended.
type guestRun struct {
	finished bool   // the guest reached its end and said so
	timedOut bool   // it was still running at kvmProbeTimeout
	failure  string // otherwise: what QEMU said
	took     time.Duration
}

// probeExitCode is QEMU's exit status when the test guest writes 0x10 to
// the isa-debug-exit port: (0x10 << 1) | 1.
const probeExitCode = 33

func runProbeGuest(ctx context.Context, binary, accel, image string) guestRun {
	ctx, cancel := context.WithTimeout(ctx, kvmProbeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-accel", accel, "-machine", "pc", "-display", "none",
		"-nodefaults", "-no-user-config", "-no-reboot", "-m", "16", "-kernel", image,
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == probeExitCode:
		return guestRun{finished: true, took: took}
	case ctx.Err() == context.DeadlineExceeded:
		return guestRun{timedOut: true, took: took}
	case err == nil:
		return guestRun{failure: "the test guest stopped without reaching its end", took: took}
	}
	msg := strings.TrimSpace(stderr.String())
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:] // QEMU's warnings come first, its reason last
	}
	if msg == "" {
		msg = err.Error()
	}
	return guestRun{failure: msg, took: took}
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w *strings.Builder
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.WriteString(string(p[:k]))
		l.n -= k
	}
	return len(p), nil
}
