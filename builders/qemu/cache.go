package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/imgbuild/imgbuild/builders/qemu/qcow"
	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// The step cache (imgbuild build -cache): the VM's disk lives in the
// cache's data folder while the build runs; after each provisioner the
// guest syncs and the file the VM writes to becomes that step's qcow2
// layer (named by its key), the VM going on with a fresh overlay backed by
// it. A rebuild boots a new overlay on the last cached layer; when every
// step is cached no VM boots: the output is the flattened chain.

var (
	_ plugin.BaseIdentifier         = (*Builder)(nil)
	_ plugin.CheckpointVerifier     = (*Builder)(nil)
	_ plugin.CacheConfiger          = (*Builder)(nil)
	_ plugin.LastCheckpointFinisher = (*Builder)(nil)
)

// FinishesLastCheckpoint: the disk as the clean shutdown left it is kept
// beside the build's last checkpoint (finalPath), so the shared cache
// stores that checkpoint when the build ends.
func (b *Builder) FinishesLastCheckpoint() {}

// cacheState is the cache's part of a build's state.
type cacheState struct {
	resume *plugin.Resume
	// active is the file the VM writes to: not a layer, removed when the
	// build ends.
	active string
	qmp    *qcow.QMP
	disk   *qcow.Disk
	// lastKey and lastLayer are the key and file of the layer the VM's
	// disk now sits on.
	lastKey, lastLayer string
	// fromFinal is set when every step is cached and the state after the
	// last build's shutdown is kept: the output is made from it, no VM.
	fromFinal bool

	// VM states (vmstate.go): incoming starts QEMU waiting for a saved
	// state; resumed is set once one was restored; checkpoints counts the
	// checkpoints made; machine is this build's machine identity, computed
	// once (its QEMU, accelerator and command line do not change).
	incoming, resumed bool
	checkpoints       int
	machine           *machineID
	// compressing is the VM state being compressed in the background,
	// under buildCtx (the build's steps' context).
	compressing *pendingState
	buildCtx    context.Context
}

func init() {
	cache.RegisterRemover("qemu", removeLayer)
	cache.RegisterDescriber("qemu", describeState)
	cache.RegisterDataSweeper(unneededLayers)
}

// finalPath is where the disk as it was after the shutdown that followed
// the layer's step is kept (an overlay on the layer): a VM's clean
// shutdown changes files (pid files, the journal) that a layer taken
// while it ran still has.
func finalPath(layer string) string {
	return strings.TrimSuffix(layer, ".qcow2") + ".final.qcow2"
}

// layerName matches the files the qemu cache keeps: a layer,
// <key>-<unique>.qcow2, and the shut-down state beside one,
// <key>-<unique>.final.qcow2.
var layerName = regexp.MustCompile(`^[0-9a-f]{64}-[0-9a-f]{12}(\.final)?\.qcow2$`)

// vmStateName matches a layer's VM state files (vmstate.go), complete or
// left partial by a killed build.
var vmStateName = regexp.MustCompile(`^([0-9a-f]{64}-[0-9a-f]{12}\.qcow2)\.vmstate\.(zst|json|raw)(\.partial)?$`)

// unneededLayers lists the layers in dataDir that no qemu checkpoint needs:
// neither an entry's layer, nor the state kept beside it, nor a file
// either is backed by (a layer made again for a key leaves the old file
// under the layers built on it). Such a file is what a build killed
// between making a layer and recording it leaves. When a chain cannot be
// read, nothing is listed.
func unneededLayers(dataDir string, entries []cache.Entry) ([]string, error) {
	needed := map[string]bool{}
	for _, e := range entries {
		if e.Builder != "qemu" {
			continue
		}
		for _, p := range []string{e.Ref, finalPath(e.Ref)} {
			for p != "" && !needed[p] {
				if _, err := os.Stat(p); err != nil {
					break // no kept state, or a chain already broken
				}
				needed[p] = true
				next, err := qcow.BackingFile(p)
				if err != nil {
					return nil, fmt.Errorf("reading the layers of checkpoint %s: %w", e.Key.Short(), err)
				}
				p = next
			}
		}
	}
	files, err := os.ReadDir(dataDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		p := filepath.Join(dataDir, f.Name())
		if layerName.MatchString(f.Name()) && !needed[p] {
			out = append(out, p)
		}
		// A VM state goes with its layer; a partial one is a killed
		// build's, unless a build is writing it now (the cache's lock
		// keeps sweeps and builds apart).
		if m := vmStateName.FindStringSubmatch(f.Name()); m != nil && (!needed[filepath.Join(dataDir, m[1])] || m[3] != "") {
			out = append(out, p)
		}
	}
	return out, nil
}

// removeLayer deletes a checkpoint's layer, the shut-down state kept
// beside it and its VM state.
func removeLayer(_ context.Context, e cache.Entry) error {
	var errs []error
	for _, p := range []string{finalPath(e.Ref), e.Ref} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, removeState(e.Ref))...)
}

// BaseIdentity names the source image (its checksum, or the content of a
// local file without one) and the content of the local files the machine
// is built from (http_directory, cd_files, floppy files, files named in
// qemuargs such as -kernel).
func (b *Builder) BaseIdentity(ctx context.Context, _ plugin.UI) (string, error) {
	c := &b.config
	switch {
	case !c.DiskImage:
		return "", errors.New("the qemu builder caches disk_image = true builds only (an ISO install would boot its installer again)")
	case c.UseBackingFile:
		return "", errors.New("use_backing_file = true is not cached: the output must stay an overlay on the source")
	case c.Format != "qcow2":
		return "", fmt.Errorf("format = %q is not cached: checkpoints are qcow2 layers", c.Format)
	case len(c.DiskAdditionalSize) > 0:
		return "", errors.New("disk_additional_size is not cached: checkpoints hold one disk")
	}
	source := strings.TrimSpace(c.ISOChecksum)
	if source == "" || strings.EqualFold(source, "none") {
		urls := c.ISOURLs
		if len(urls) == 0 {
			urls = []string{c.ISOURL}
		}
		sum, err := fileSHA256(strings.TrimPrefix(urls[0], "file://"))
		if err != nil {
			return "", fmt.Errorf("set iso_checksum to use -cache with this source: %w", err)
		}
		source = "sha256:" + sum
	}
	var inputs []string
	for _, p := range append(append(append([]string{c.HTTPDir}, c.CDFiles...), c.FloppyFiles...), c.FloppyDirs...) {
		if p != "" {
			inputs = append(inputs, p)
		}
	}
	for _, arg := range c.QemuArgs {
		for _, v := range arg {
			if st, err := os.Stat(v); err == nil && !st.IsDir() {
				inputs = append(inputs, v)
			}
		}
	}
	files, err := cache.Key("").Next("qemu-inputs", nil, inputs)
	if err != nil {
		return "", err
	}
	return source + " files:" + string(files), nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CacheConfig leaves out what only shapes the output or the way the VM
// is watched and stopped: changing those keeps the checkpoints.
func (b *Builder) CacheConfig() any {
	c := b.config
	c.OutputDir, c.VMName = "", ""
	c.DiskCompression, c.SkipCompaction = false, false
	c.ShutdownCommand, c.ShutdownTimeout = "", 0
	c.Headless, c.Display, c.UseDefaultDisplay, c.RunOnce = false, "", false, false
	c.QMPEnable, c.QMPSocketPath = false, ""
	c.VNCBindAddress, c.VNCPortMin, c.VNCPortMax, c.VNCUsePassword, c.DisableVNC = "", 0, 0, false, false
	c.HostPortMin, c.HostPortMax, c.SSHHostPortMin, c.SSHHostPortMax = 0, 0, 0, 0
	c.ResumeClockCommand = ""
	// The machine type is the emulated board: what the provisioners write
	// to the disk does not depend on it, so the disk layers stay; a VM
	// state, which does, is then not restored (its machine differs).
	c.MachineType = ""
	return &c
}

// HasCheckpoint reports whether the layer and every layer under it are
// still there.
func (b *Builder) HasCheckpoint(ctx context.Context, ref string) (bool, error) {
	return qcow.ChainIntact(ctx, ref), nil
}

// cacheDisk creates the disk the VM starts on, in the cache's data
// folder: an overlay on the checkpoint, or (cold) a copy of the source,
// resized as stepDisk would.
func cacheDisk(ctx context.Context, st *state) (steps.Cleanup, error) {
	cs := st.cache
	cs.buildCtx = ctx
	var err error
	if cs.resume.Ref != "" {
		st.ui.Say("Starting from checkpoint " + filepath.Base(cs.resume.Ref))
		cs.active, err = qcow.NewOverlay(ctx, cs.resume.DataDir, cs.resume.Ref)
		if err != nil {
			return nil, err
		}
	} else {
		cs.active = qcow.WorkingPath(cs.resume.DataDir)
		st.ui.Say("Copying " + st.sourcePath + " to the cache's working disk")
		a := []string{"convert", "-O", "qcow2"}
		if st.cfg.QemuImgArgs != nil {
			a = append(a, st.cfg.QemuImgArgs.Convert...)
		}
		if err := qcow.QemuImg(ctx, append(a, st.sourcePath, cs.active)...); err != nil {
			os.Remove(cs.active)
			return nil, err
		}
		if st.cfg.diskSizeSet && !st.cfg.SkipResizeDisk {
			if err := growDisk(ctx, st, cs.active); err != nil {
				os.Remove(cs.active)
				return nil, err
			}
		}
	}
	st.diskPaths = []string{cs.active}
	return func(cctx context.Context) error {
		finishState(cctx, st)
		if cs.qmp != nil {
			cs.qmp.Close()
		}
		// Only the file the VM last wrote to: the others became layers.
		if cs.active == "" {
			return nil
		}
		if err := os.Remove(cs.active); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the working disk %s: %w", cs.active, err)
		}
		return nil
	}, nil
}

// stepFlatten writes the output disk from the chain: the working disk
// after provisioning, or the last checkpoint when every step was cached.
func stepFlatten(ctx context.Context, st *state) (steps.Cleanup, error) {
	c, cs := st.cfg, st.cache
	finishState(ctx, st) // before the build ends and its checkpoints are shared
	top := cs.active
	switch {
	case cs.fromFinal:
		top = finalPath(cs.resume.Ref)
	case cs.lastKey != "" && cs.lastKey == cs.resume.LastKey:
		// The VM shut down right after the last checkpoint: keep that
		// state, so that a fully cached rebuild needs no VM.
		final := finalPath(cs.lastLayer)
		if err := os.Rename(cs.active, final); err == nil {
			cs.active, top = "", final // kept: not the working disk any more
		}
	}
	out := filepath.Join(st.outputDir, c.VMName)
	st.ui.Say("Writing " + out + " from the cached layers")
	if err := qcow.QemuImg(ctx, append(convertArgs(c), top, out)...); err != nil {
		os.Remove(out)
		return nil, err
	}
	st.diskPaths = []string{out}
	return nil, nil
}

// checkpoint syncs the guest and freezes its disk as the layer for key.
func checkpoint(ctx context.Context, st *state, comm communicator.Communicator, key string) (string, int64, error) {
	cs := st.cache
	status, err := comm.Run(ctx, &communicator.Cmd{Command: "sync"})
	if err == nil && status != 0 {
		err = fmt.Errorf("exit status %d", status)
	}
	if err != nil {
		return "", 0, fmt.Errorf("syncing the guest's disks: %w", err)
	}
	if cs.disk == nil {
		if cs.qmp == nil {
			if cs.qmp, err = qcow.DialQMP(ctx, st.qmpPath); err != nil {
				return "", 0, err
			}
		}
		if cs.disk, err = qcow.Attach(ctx, cs.qmp, cs.active); err != nil {
			return "", 0, err
		}
	}
	layer := qcow.LayerPath(cs.resume.DataDir, key)
	cs.checkpoints++
	withState := cs.wantsState(cs.resume.Steps + cs.checkpoints)
	if withState {
		finishState(ctx, st) // the last one's compression, while the VM runs
		// Stopped, the disk frozen now and the memory saved next are
		// one consistent machine.
		if err := cs.qmp.Stop(ctx); err != nil {
			return "", 0, err
		}
	}
	err = cs.disk.Freeze(ctx, layer)
	if err == nil && withState {
		if serr := saveState(ctx, st, layer); serr != nil {
			_ = removeState(layer)
			st.ui.Error("Saving the VM's state with this checkpoint failed (" + serr.Error() + "); a rebuild from it will boot the VM")
		}
	}
	if withState {
		if cerr := cs.qmp.Cont(ctx); cerr != nil && err == nil {
			err = fmt.Errorf("resuming the VM after its checkpoint: %w", cerr)
		}
	}
	if err != nil {
		return "", 0, err
	}
	cs.active = cs.disk.Active()
	cs.lastKey, cs.lastLayer = key, layer
	var size int64
	if fi, err := os.Stat(layer); err == nil {
		size = fi.Size()
	}
	return layer, size, nil
}

// checkpointComm is the SSH communicator that can also checkpoint;
// embedding the concrete type keeps its Reconnect.
type checkpointComm struct {
	*ssh.Comm
	st *state
}

func (c *checkpointComm) Checkpoint(ctx context.Context, key string) (string, int64, error) {
	return checkpoint(ctx, c.st, c.Comm, key)
}

// cacheComm wraps the provisioners' communicator under -cache.
func cacheComm(st *state) communicator.Communicator {
	if sc, ok := st.comm.(*ssh.Comm); ok && st.cache != nil {
		return &checkpointComm{Comm: sc, st: st}
	}
	return st.comm
}

// cacheSteps adapts the build's steps under -cache: the disk lives in the
// cache and the output is flattened from it; with every provisioner
// cached, nothing but the output is made (no VM boots).
func cacheSteps(ctx context.Context, st *state, list []steps.Step[state], r *plugin.Resume) []steps.Step[state] {
	st.cache = &cacheState{resume: r}
	flatten := steps.Step[state]{Name: "writing the disk from the cached layers", Run: stepFlatten}
	if r.Complete {
		if qcow.ChainIntact(ctx, finalPath(r.Ref)) {
			st.cache.fromFinal = true
			return []steps.Step[state]{list[0], flatten}
		}
		// The state after shutdown is gone (removed, or the build that
		// made the layer failed at shutdown): boot on the last layer and
		// shut down; no provisioner runs.
		st.cache.lastKey, st.cache.lastLayer = r.LastKey, r.Ref
	}
	out := make([]steps.Step[state], 0, len(list))
	for _, s := range list {
		switch s.Name {
		case "fetching the source image":
			if r.Ref != "" {
				continue // the checkpoint holds the disk; the source's checksum is in its key
			}
		case "creating the disk":
			s.Run = cacheDisk
		case "starting qemu":
			if r.Ref != "" && r.VMStates > 0 {
				s.Run = stepResumeOrBoot
			}
		case "typing the boot command":
			s.Run = stepBootUnlessResumed
		case "connecting to the machine":
			s.Run = stepConnectAndSetClock
		case "compacting the disk":
			s = flatten
		}
		out = append(out, s)
	}
	return out
}

// cacheQMPSocket is a QMP socket path in a folder of its own: in the
// cache's data folder, named as a working file, so that the folder of a
// build killed outright is swept with its disk; under the temporary folder
// when that path would be too long for a socket (108 bytes).
func cacheQMPSocket(dataDir string) (string, func() error, error) {
	const maxSocketPath = 100
	parent, prefix := dataDir, cache.WorkingPrefix+"qmp-"
	if len(filepath.Join(dataDir, prefix+"0123456789", "qmp.sock")) > maxSocketPath {
		parent, prefix = "", "imgbuild-qmp-"
	}
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return "", nil, fmt.Errorf("creating a folder for QEMU's QMP socket: %w", err)
	}
	return filepath.Join(dir, "qmp.sock"), func() error { return os.RemoveAll(dir) }, nil
}
