package qemu

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// BuilderID is Packer's id for qemu artifacts; post-processors check it.
const BuilderID = "transcend.qemu"

func init() {
	plugin.RegisterBuilder("qemu", func() plugin.Builder { return &Builder{} })
	// The kinds of resource this builder records in the ledger, for cleanup.
	ledger.Register(outputDirCleaner)
}

// Builder builds a disk image by booting an ISO or a disk image in QEMU,
// provisioning it over SSH, and compacting its disk.
type Builder struct {
	config Config
}

// Config returns the configuration the template engine decodes into.
func (b *Builder) Config() any { return &b.config }

// state is what the steps share.
type state struct {
	cfg *Config
	env *plugin.BuildEnv
	ui  plugin.UI

	outputDir   string
	ledger      *ledger.Ledger // nil: no state directory to write it in
	sourcePath  string         // the downloaded or local ISO / disk image
	diskPaths   []string
	cdPath      string
	floppyPath  string
	efiVarsPath string
	qmpPath     string

	httpIP, httpPort string
	sshHost          string
	sshPort          int // the forwarded host port (or ssh_port with skip_nat_mapping)
	vncPort          int
	vncPassword      string
	vncPasswordFile  string // holds vncPassword, for QEMU
	sshPublicKey     string
	accel            string

	vm   *vm
	tpm  *swtpm // with vtpm = true
	comm communicator.Communicator

	generated plugin.GeneratedData
	succeeded bool

	// cache is set under imgbuild build -cache (see cache.go).
	cache *cacheState
}

// Run boots the machine, provisions it, shuts it down and returns the
// image in output_directory.
func (b *Builder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	c := &b.config
	if c.VMName == "" {
		c.VMName = "packer-" + env.SourceName
	}
	if c.OutputDir == "" {
		c.OutputDir = "output-" + env.SourceName
	}
	if c.Accelerator == "" || c.Accelerator == "kvm" {
		probeFor(c.QemuBinary)
	}
	st := &state{cfg: c, env: env, ui: env.UI, generated: plugin.GeneratedData{
		"PackerRunUUID": env.RunUUID,
		"ConnType":      c.Type,
	}}
	if l, err := ledger.Open(""); err == nil {
		st.ledger = l
	}
	opts := env.StepOptions()
	list := []steps.Step[state]{
		{Name: "preparing the output directory", Run: stepOutputDir},
		{Name: "creating a temporary key pair", Run: stepKeyPair},
		{Name: "fetching the source image", Run: stepSource},
		{Name: "creating the disk", Run: stepDisk},
		{Name: "creating the CD", Run: stepCD},
		{Name: "creating the floppy", Run: stepFloppy},
		{Name: "starting the HTTP server", Run: stepHTTP},
		{Name: "choosing ports", Run: stepPorts},
		{Name: "choosing the accelerator", Run: stepAccel},
		{Name: "starting qemu", Run: stepQemu},
		{Name: "typing the boot command", Run: stepBootCommand},
		{Name: "connecting to the machine", Run: stepConnect},
		{Name: "provisioning", Run: stepProvision},
		{Name: "shutting down", Run: stepShutdown},
		{Name: "compacting the disk", Run: stepCompact},
	}
	if env.Resume != nil {
		list = cacheSteps(ctx, st, list, env.Resume)
	}
	list = append(list, steps.Step[state]{Name: "finishing", Run: func(ctx context.Context, st *state) (steps.Cleanup, error) {
		st.succeeded = true
		return nil, nil
	}})
	if err := steps.Run(ctx, st, opts, list...); err != nil {
		if errors.Is(err, steps.ErrKept) {
			leftRunning(st)
			if st.outputDir != "" {
				// Kept for inspection: the user's now, not cleanup's.
				if rerr := st.recordOutputDir(ledger.Kept, st.outputDir); rerr != nil {
					st.ui.Error(rerr.Error())
				}
			}
		}
		return nil, err
	}
	return &Artifact{dir: st.outputDir, files: st.diskPaths, generated: st.generated,
		diskName: c.VMName, format: c.Format, diskSize: c.DiskSize, accel: st.accel}, nil
}

func trimOutput(b []byte) string {
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
