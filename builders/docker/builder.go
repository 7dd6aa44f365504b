package docker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/steps"
)

func init() {
	plugin.RegisterBuilder("docker", func() plugin.Builder { return &Builder{} })
	// The kinds of resource this builder records in the ledger, for cleanup.
	ledger.Register(dockerengine.Cleaner)
}

// Builder is Packer's docker builder on the Docker Engine API: it starts a
// container from image, provisions it, then commits, exports or discards
// it. The container is removed however the build ends, unless the user
// asked to keep it after a failure (-on-error=abort).
type Builder struct {
	config Config
	// pulled is set when BaseIdentity (-cache) already pulled the image.
	pulled bool
}

var _ plugin.GeneratedKeyser = (*Builder)(nil)

func (b *Builder) Config() any                { return &b.config }
func (b *Builder) Prepare() ([]string, error) { return b.config.Prepare() }
func (b *Builder) GeneratedKeys() []string    { return []string{"ImageSha256", "SourceImageDigest"} }

// state is what the steps share.
type state struct {
	cfg *Config
	env *plugin.BuildEnv
	cli *client.Client

	spec          *runSpec
	pulled        bool // the image was pulled before Run (-cache)
	base          baseImage
	containerID   string
	containerName string
	ledger        *ledger.Ledger // nil: no state directory to write it in
	workDir       string
	// checkpointed is the checkpoint image the container has not changed
	// since ("" before the first or after any command or transfer).
	// Atomic: a provisioner may run commands at once (ansible's sessions).
	checkpointed atomic.Pointer[string]
	// reusedFinal is the image an earlier build committed from the same
	// checkpoint with the same options, when this build reuses it.
	reusedFinal string
	generated   plugin.GeneratedData
	artifact    plugin.Artifact
}

// Run runs the build. Its error says what was left behind, if anything.
func (b *Builder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()

	spec, err := parseRunCommand(b.config.RunCommand, b.config.Image)
	if err != nil {
		return nil, fmt.Errorf("run_command: %w", err)
	}
	st := &state{cfg: &b.config, env: env, cli: cli, spec: spec, generated: plugin.GeneratedData{}}
	if l, err := ledger.Open(""); err == nil {
		st.ledger = l
	}
	for _, k := range plugin.CommonGeneratedKeys {
		st.generated[k] = ""
	}
	st.generated["PackerRunUUID"] = env.RunUUID
	st.generated["ConnType"] = b.config.Type

	st.pulled = b.pulled
	list := []steps.Step[state]{{Name: "pull", Run: stepPull}}
	if b.config.Commit && env.Resume != nil && env.Resume.Complete {
		list = append(list, steps.Step[state]{Name: "find final image", Run: stepFindFinal})
	}
	list = append(list, steps.Step[state]{Name: "create container", Run: stepCreate})
	// With every provisioner cached, the checkpoint already holds the
	// result: the container is only created, to commit or export it.
	if env.Resume == nil || !env.Resume.Complete {
		list = append(list,
			steps.Step[state]{Name: "start container", Run: stepStart},
			steps.Step[state]{Name: "provision", Run: stepProvision})
	}
	switch {
	case b.config.Commit:
		list = append(list, steps.Step[state]{Name: "commit", Run: stepCommit})
	case b.config.ExportPath != "":
		list = append(list, steps.Step[state]{Name: "export", Run: stepExport})
	default:
		list = append(list, steps.Step[state]{Name: "discard", Run: stepDiscard})
	}

	opts := env.StepOptions()
	if err := steps.Run(ctx, st, opts, list...); err != nil {
		if errors.Is(err, steps.ErrKept) && st.containerID != "" {
			// The ledger says so, and `imgbuild cleanup` leaves it alone
			// unless asked (--include-kept).
			if rerr := st.recordContainer(ledger.Kept, st.containerName); rerr != nil {
				env.UI.Error(rerr.Error())
			}
			id := short(st.containerID)
			return nil, fmt.Errorf("%w\nThe build container %s was kept for inspection (docker exec -it %s /bin/sh); remove it with: docker rm -f %s",
				err, id, id, id)
		}
		return nil, err
	}
	return st.artifact, nil
}

// communicatorFor returns the communicator the provisioners use and the
// function that closes it.
func communicatorFor(ctx context.Context, st *state) (communicator.Communicator, func(), error) {
	if st.cfg.Type == communicator.TypeSSH {
		return connectSSH(ctx, st)
	}
	dc := &Comm{
		cli:         st.cli,
		containerID: st.containerID,
		workDir:     st.workDir,
		execUser:    st.cfg.ExecUser,
		fixOwner:    *st.cfg.FixUploadOwner,
		ui:          st.env.UI,
	}
	return &checkpointComm{Communicator: dc, st: st}, func() {}, nil
}
