package qemu

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/imgbuild/imgbuild/builders/qemu/qcow"
	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/steps"
	"github.com/imgbuild/imgbuild/internal/wait"
)

// VM states (imgbuild build -cache, -cache-vm-states N): the N
// checkpoints before a build's last also keep the running machine, its memory and
// devices, taken while it is stopped right as its disk becomes the
// layer. A rebuild that resumes from such a checkpoint restores the
// machine on a fresh overlay of the layer instead of booting it: the
// guest goes on where it was, the communicator connects again, the
// guest's clock is set, and the remaining provisioners run. Anything
// that keeps a state from being restored (another QEMU or accelerator,
// a corrupt file, a guest that does not answer) falls back to booting
// from the layer, said once.

// stateFile and stateInfoFile sit beside the layer they belong to.
func stateFile(layer string) string     { return layer + ".vmstate.zst" }
func stateInfoFile(layer string) string { return layer + ".vmstate.json" }

// stateRawFile holds a state as QEMU streamed it, until it is compressed.
func stateRawFile(layer string) string { return layer + ".vmstate.raw.partial" }

// stateInfo is written beside a state, once the state is complete.
type stateInfo struct {
	// Machine names everything a state needs to be restorable: the QEMU
	// binary and its version, the accelerator and the command line's
	// devices (see machineIdentity).
	Machine string    `json:"machine"`
	QEMU    string    `json:"qemu"`
	Saved   time.Time `json:"saved"`
}

// resumeAnswerWait bounds how long a restored guest has to answer on its
// SSH port before the build boots from the layer instead.
const resumeAnswerWait = 30 * time.Second

// wantsState reports whether the checkpoint of provisioner index (1-based)
// keeps the VM's state: one of the VMStates checkpoints before the
// build's last, the ones a rebuild resumes from when one of the last
// steps changed. The last checkpoint's own state would serve only a
// provisioner added after it, and saving it would cost every rebuild of
// the edit-and-rerun loop on the last step.
func (cs *cacheState) wantsState(index int) bool {
	n, last := cs.resume.VMStates, cs.resume.Checkpoints
	return n > 0 && index < last && index >= last-n
}

// saveState writes the stopped VM's state beside layer. The VM waits
// only for QEMU's stream to reach a working file as it comes (page-cache
// speed); compressing it, which costs more than the stream on a small
// host, goes on in the background while the build does (finishState
// waits for it), and the info file that makes the state usable is
// written last.
func saveState(ctx context.Context, st *state, layer string) (err error) {
	cs := st.cache
	finishState(ctx, st) // one at a time
	id, err := cs.machineIdentity(ctx, st)
	if err != nil {
		return err
	}
	raw := stateRawFile(layer)
	f, err := os.OpenFile(raw, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	saveErr := cs.qmp.SaveState(ctx, f)
	if saveErr != nil && st.vm != nil {
		// QEMU says why on its error output.
		if tail := strings.TrimSpace(string(st.vm.stderr.Bytes())); tail != "" {
			saveErr = fmt.Errorf("%w: %s", saveErr, lastLine(tail))
		}
	}
	if err := errors.Join(saveErr, f.Close()); err != nil {
		os.Remove(raw)
		return err
	}
	bctx := cs.buildCtx
	if bctx == nil {
		bctx = ctx
	}
	p := compressions.start(layer)
	cs.compressing = p
	go func() { p.end(compressState(bctx, raw, layer, id)) }()
	return nil
}

// pendingState is a VM state being compressed in the background. The
// build waits for it (finishState), and so does the shared cache's
// porter, which uploads a checkpoint as soon as it is recorded and must
// not send the layer without its state (compressions.wait).
type pendingState struct {
	layer string
	done  chan struct{} // closed once err is set
	err   error
}

// compressions are the VM states being compressed, by layer.
var compressions = compressing{m: map[string]*pendingState{}}

type compressing struct {
	mu sync.Mutex
	m  map[string]*pendingState
}

// start records that layer's state is being compressed.
func (c *compressing) start(layer string) *pendingState {
	p := &pendingState{layer: layer, done: make(chan struct{})}
	c.mu.Lock()
	c.m[layer] = p
	c.mu.Unlock()
	return p
}

// end says the compression is over (err: it failed).
func (p *pendingState) end(err error) {
	compressions.mu.Lock()
	delete(compressions.m, p.layer)
	compressions.mu.Unlock()
	p.err = err
	close(p.done)
}

// wait returns once layer's state is not being compressed.
func (c *compressing) wait(ctx context.Context, layer string) error {
	c.mu.Lock()
	p := c.m[layer]
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// finishState waits for the state being compressed, if any, and says
// when it could not be kept. The build's end, its cleanup and the next
// state's save call it.
func finishState(ctx context.Context, st *state) {
	cs := st.cache
	if cs == nil || cs.compressing == nil {
		return
	}
	p := cs.compressing
	var err error
	select {
	case <-p.done:
		err = p.err
	case <-ctx.Done():
		// The compression stops with the build's context; its files
		// are swept as a killed build's would be.
		err = context.Cause(ctx)
	}
	cs.compressing = nil
	if err != nil && cs.buildCtx != nil && cs.buildCtx.Err() != nil {
		_ = removeState(p.layer) // interrupted: nothing to say
		return
	}
	if err != nil {
		_ = removeState(p.layer)
		st.ui.Error("Saving the VM's state with checkpoint " + shortLayer(p.layer) + " failed (" + err.Error() + "); a rebuild from it will boot the VM")
	}
}

// compressState compresses the raw state beside layer into its state
// file, then writes the info that makes it usable, and removes the raw
// file.
func compressState(ctx context.Context, raw, layer string, id *machineID) (err error) {
	defer os.Remove(raw)
	in, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := stateFile(layer) + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	zw, err := zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		f.Close()
		return err
	}
	_, cerr := io.Copy(zw, ctxReader{ctx: ctx, r: in})
	if err := errors.Join(cerr, zw.Close(), f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp, stateFile(layer)); err != nil {
		return err
	}
	info, _ := json.Marshal(stateInfo{Machine: id.digest, QEMU: id.version, Saved: time.Now().UTC()})
	return writeFileAtomic(stateInfoFile(layer), info)
}

// ctxReader ends a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := context.Cause(c.ctx); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// removeState deletes a layer's VM state, if it has one.
func removeState(layer string) error {
	var errs []error
	for _, p := range []string{stateInfoFile(layer), stateFile(layer), stateFile(layer) + ".partial", stateRawFile(layer)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// usableState reports whether the layer has a complete state made for
// this very machine, and why not when it has none.
func usableState(ctx context.Context, st *state, layer string) (bool, string) {
	raw, err := os.ReadFile(stateInfoFile(layer))
	if err != nil {
		return false, "" // no state kept for this checkpoint: a plain boot, nothing to say
	}
	var info stateInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return false, "its description is unreadable"
	}
	if _, err := os.Stat(stateFile(layer)); err != nil {
		return false, "the state file is gone"
	}
	id, err := st.cache.machineIdentity(ctx, st)
	if err != nil {
		return false, err.Error()
	}
	if id.digest != info.Machine {
		if id.version != info.QEMU {
			return false, fmt.Sprintf("it was saved by %s, this is %s", info.QEMU, id.version)
		}
		return false, "it was saved from a differently configured machine (accelerator or devices)"
	}
	return true, ""
}

// stepResumeOrBoot starts QEMU from the checkpoint's saved state when
// there is a usable one, and boots it from the layer otherwise or when
// the restore fails.
func stepResumeOrBoot(ctx context.Context, st *state) (steps.Cleanup, error) {
	cs := st.cache
	ok, why := usableState(ctx, st, cs.resume.Ref)
	if !ok {
		if why != "" {
			st.ui.Say("Not resuming the VM from its saved state (" + why + "): booting from the disk layer")
		}
		return stepQemu(ctx, st)
	}
	cs.incoming = true
	cleanup, err := stepQemu(ctx, st)
	cs.incoming = false
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := restoreState(ctx, st); err != nil {
		if ctx.Err() != nil {
			return cleanup, err
		}
		st.ui.Say("Could not resume the VM from its saved state (" + err.Error() + "): booting from the disk layer")
		if cerr := cleanup(ctx); cerr != nil {
			return nil, cerr
		}
		// A state that failed once fails again: drop it.
		_ = removeState(cs.resume.Ref)
		if cs.qmp != nil {
			cs.qmp.Close()
			cs.qmp, cs.disk = nil, nil
		}
		return stepQemu(ctx, st)
	}
	cs.resumed = true
	st.ui.Say(fmt.Sprintf("Resumed the VM from the state saved with checkpoint %s in %s: no boot", shortLayer(cs.resume.Ref), time.Since(start).Round(time.Millisecond)))
	return cleanup, nil
}

// restoreState feeds the saved state to the QEMU started with -incoming
// and waits until the guest's SSH server answers again.
func restoreState(ctx context.Context, st *state) error {
	cs := st.cache
	f, err := os.Open(stateFile(cs.resume.Ref))
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := zstd.NewReader(bufio.NewReaderSize(f, 1<<20), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zr.Close()
	rctx, cancel := untilExit(ctx, st)
	defer cancel()
	if cs.qmp == nil {
		if cs.qmp, err = qcow.DialQMP(rctx, st.qmpPath); err != nil {
			return err
		}
	}
	if err := cs.qmp.LoadState(rctx, zr); err != nil {
		if cause := context.Cause(rctx); cause != nil && ctx.Err() == nil {
			return cause
		}
		return err
	}
	if st.cfg.Type == communicator.TypeNone || st.cfg.SkipNatMapping {
		return nil
	}
	if err := wait.ForGreeting(rctx, net.JoinHostPort(st.sshHost, strconv.Itoa(st.sshPort)), "SSH-", resumeAnswerWait); err != nil {
		return fmt.Errorf("the restored guest's SSH server did not answer: %w", err)
	}
	return nil
}

// stepBootUnlessResumed types the boot command only into a booting VM.
func stepBootUnlessResumed(ctx context.Context, st *state) (steps.Cleanup, error) {
	if st.cache != nil && st.cache.resumed {
		return nil, nil
	}
	return stepBootCommand(ctx, st)
}

// stepConnectAndSetClock connects, and after a resume sets the guest's
// clock: it stood still while the state was stored.
func stepConnectAndSetClock(ctx context.Context, st *state) (steps.Cleanup, error) {
	cleanup, err := stepConnect(ctx, st)
	if err != nil || st.cache == nil || !st.cache.resumed || st.comm == nil {
		return cleanup, err
	}
	cmd := clockCommand(st.cfg.ResumeClockCommand, time.Now())
	var out strings.Builder
	status, rerr := st.comm.Run(ctx, &communicator.Cmd{Command: cmd, Stdout: &out, Stderr: &out})
	if rerr == nil && status != 0 {
		rerr = fmt.Errorf("exit status %d: %s", status, strings.TrimSpace(out.String()))
	}
	if rerr != nil {
		st.ui.Error("Setting the resumed guest's clock failed (" + rerr.Error() + "); its time is behind by the time since its checkpoint. Set resume_clock_command to what the guest needs.")
	}
	return cleanup, nil
}

// defaultClockCommand sets the clock as root, or through sudo without a
// password, as a cloud image's default user can.
const defaultClockCommand = `date -u -s @{{.Unix}} >/dev/null 2>&1 || sudo -n date -u -s @{{.Unix}} >/dev/null`

func clockCommand(tmpl string, now time.Time) string {
	if tmpl == "" {
		tmpl = defaultClockCommand
	}
	return strings.ReplaceAll(tmpl, "{{.Unix}}", strconv.FormatInt(now.Unix(), 10))
}

// identityDropped are the flags that differ between runs of one machine
// without changing what its state holds: names, sockets, displays.
var identityDropped = map[string]bool{"-name": true, "-qmp": true, "-vnc": true, "-display": true, "-object": true}

var hostPort = regexp.MustCompile(`hostfwd=tcp:[^:]*:\d+-`)

// machineID names the machine a build starts: digest covers everything
// a saved state needs to be restorable into it; version is QEMU's, to say
// why when the digests differ.
type machineID struct{ digest, version string }

// machineIdentity describes the machine this build starts, for telling
// whether a saved state can be restored into it: the QEMU binary (its
// version, size and time), the accelerator, and the command line with
// the paths and ports that change from run to run taken out. The rest of
// the configuration is in the checkpoint's key already. It is computed
// once per build.
func (cs *cacheState) machineIdentity(ctx context.Context, st *state) (*machineID, error) {
	if cs.machine != nil {
		return cs.machine, nil
	}
	binary, err := exec.LookPath(st.cfg.QemuBinary)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(binary)
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, binary, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", binary, err)
	}
	version, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	described := st
	if st.cfg.VTPM && st.tpm == nil {
		// Asked before QEMU (and its vTPM) starts, on a resume: describe
		// the machine as it will start, the vTPM's socket being a
		// placeholder like the other run-dependent paths.
		withTPM := *st
		withTPM.tpm = &swtpm{socket: "TPM"}
		described = &withTPM
	}
	args, err := buildArgs(described)
	if err != nil {
		return nil, err
	}
	variable := map[string]string{st.outputDir: "OUTPUT", st.qmpPath: "QMP", st.cdPath: "CD", st.floppyPath: "FLOPPY", st.efiVarsPath: "EFIVARS"}
	for i, p := range st.diskPaths {
		variable[p] = "DISK" + strconv.Itoa(i)
	}
	if st.tpm != nil {
		variable[st.tpm.socket] = "TPM"
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%s\x00%s\x00", binary, fi.Size(), fi.ModTime().UnixNano(), version, st.accel)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if identityDropped[a] {
			i++ // and its value
			continue
		}
		for from, to := range variable {
			if from != "" {
				a = strings.ReplaceAll(a, from, to)
			}
		}
		a = hostPort.ReplaceAllString(a, "hostfwd=tcp::PORT-")
		fmt.Fprintf(h, "%s\x00", a)
	}
	cs.machine = &machineID{digest: hex.EncodeToString(h.Sum(nil)), version: version}
	return cs.machine, nil
}

func shortLayer(layer string) string {
	base := layer[strings.LastIndexByte(layer, '/')+1:]
	if len(base) > 12 {
		return base[:12]
	}
	return base
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".partial"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// describeState names a layer's VM state and its size, for cache ls.
func describeState(e cache.Entry) string {
	if _, err := os.Stat(stateInfoFile(e.Ref)); err != nil {
		return ""
	}
	fi, err := os.Stat(stateFile(e.Ref))
	if err != nil {
		return ""
	}
	return fmt.Sprintf("VM state (%.1f MB)", float64(fi.Size())/1e6)
}
