// Package plugin holds the small interfaces that builders, provisioners,
// post-processors and data sources implement, and the registry that maps
// Packer type names ("docker", "shell", "manifest", ...) to them.
//
// The orchestrator (internal/engine) and the template engine
// (internal/template) know plugins only through this package.
package plugin

import (
	"context"

	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// Configurable is the part every plugin shares: a configuration struct that
// the template engine decodes the plugin's HCL block into, then Prepare.
//
// Config returns a pointer to the plugin's configuration struct. Its fields
// carry gohcl-style tags whose names are Packer's option names:
//
//	Image   string            `hcl:"image"`             // required
//	Pull    *bool             `hcl:"pull,optional"`     // optional; nil when unset
//	Changes []string          `hcl:"changes,optional"`
//	Timeout time.Duration     `hcl:"timeout,optional"`  // Packer duration string ("5m")
//	Tags    map[string]string `hcl:"tags,optional"`
//	Filter  []Filter          `hcl:"filter,block"`      // nested blocks
//	communicator.Config                                 // embedded structs are flattened
//
// Prepare runs after decoding: it fills defaults, checks option
// combinations, and returns warnings. An error it returns may be
// hcl.Diagnostics (with ranges); any other error is reported at the block.
type Configurable interface {
	Config() any
	Prepare() (warnings []string, err error)
}

// Builder starts a machine, hands it to the provisioners, and turns the
// result into an Artifact.
type Builder interface {
	Configurable
	Run(ctx context.Context, env *BuildEnv) (Artifact, error)
}

// Provisioner changes a running machine through its communicator.
type Provisioner interface {
	Configurable
	Provision(ctx context.Context, env *ProvisionEnv) error
}

// PostProcessor turns an artifact into another one.
//
// keep asks to keep the input artifact (it is destroyed otherwise, unless
// the template says keep_input_artifact); forceKeep overrides the template.
type PostProcessor interface {
	Configurable
	PostProcess(ctx context.Context, env *PostProcessEnv, in Artifact) (out Artifact, keep, forceKeep bool, err error)
}

// DataSource fetches a value (data.TYPE.NAME) before sources are evaluated.
type DataSource interface {
	Configurable
	// OutputType is the object type of the data source's value, used at
	// validate time when data sources are not executed.
	OutputType() cty.Type
	Execute(ctx context.Context) (cty.Value, error)
}

// GeneratedKeyser is implemented by builders that add build.* values beyond
// the common ones (for example amazon-ebs adds SourceAMI). The template
// engine uses it to accept references to those keys at validate time.
type GeneratedKeyser interface {
	GeneratedKeys() []string
}

// CommonGeneratedKeys are the build.* values every builder provides (empty
// strings where they do not apply, as in Packer).
var CommonGeneratedKeys = []string{
	"ID", "Host", "Port", "User", "Password", "ConnType",
	"SSHPublicKey", "SSHPrivateKey", "WinRMPassword",
	"PackerRunUUID", "PackerHTTPIP", "PackerHTTPPort", "PackerHTTPAddr",
	"SourceImageName",
}

// GeneratedData holds the build.* values a builder knows once its machine
// runs (keys as in CommonGeneratedKeys and GeneratedKeys).
type GeneratedData map[string]string

// ProvisionFunc runs the build's provisioners against a machine. A builder
// calls it once, when its machine is reachable, passing the communicator
// and the build.* values. The error is the provisioners' failure; the
// builder then fails its step so that its cleanup stack runs.
type ProvisionFunc func(ctx context.Context, comm communicator.Communicator, data GeneratedData) error

// BuildEnv is what the orchestrator gives a builder's Run.
type BuildEnv struct {
	UI UI
	// Name is the build's full name as shown in output ("docker.hello",
	// or "mybuild.docker.hello" when the build block is named).
	Name       string
	SourceName string // the source block's name ("hello")
	RunUUID    string // one per imgbuild invocation (build.PackerRunUUID)
	Force      bool   // -force: replace existing artifacts of the same name
	Provision  ProvisionFunc
	// Steps configures the builder's step runner (-debug pauses,
	// -on-error=abort/ask keeps resources).
	Steps StepHooks
	// Resume, when not nil (-cache found checkpoints), is where the
	// builder starts instead of its base. See checkpoint.go.
	Resume *Resume
}

// StepHooks lets the orchestrator steer a builder's step runner without
// knowing the builder's steps. See internal/steps.
type StepHooks struct {
	// BeforeStep is called before each step (used by -debug to pause). A
	// non-nil error stops the build.
	BeforeStep func(ctx context.Context, step string) error
	// Retry, asked first when a step failed, runs the step again when it
	// returns true (-on-error=ask answered "retry").
	Retry func(step string, err error) bool
	// KeepOnFailure decides, after a step failed, whether the cleanups are
	// skipped so the user can inspect what is left (-on-error=abort|ask).
	KeepOnFailure func(err error) bool
}

// ProvisionEnv is what a provisioner gets.
type ProvisionEnv struct {
	UI        UI
	Comm      communicator.Communicator
	Generated GeneratedData
	BuildName string
	// SourceType is the builder type ("docker"), for PACKER_BUILDER_TYPE.
	SourceType string
	SourceName string
	RunUUID    string
}

// PostProcessEnv is what a post-processor gets.
type PostProcessEnv struct {
	UI            UI
	BuildName     string // the build block's name, "" when unnamed
	FullName      string // "docker.hello" as shown
	SourceType    string // builder type, e.g. "docker"
	SourceName    string
	RunUUID       string
	Generated     GeneratedData
	BuildTimeUnix int64 // when the build finished, for manifest build_time
}

// Artifact is the result of a build or a post-processor.
type Artifact interface {
	// BuilderID names the kind of artifact, as Packer's builder ids do
	// ("packer.docker", "transcend.qemu", "mitchellh.amazonebs",
	// "packer.post-processor.compress", ...). Post-processors check it.
	BuilderID() string
	// ID identifies the artifact (image id, AMI ids "region:ami-...,...").
	ID() string
	// Files lists the local files that make up the artifact, if any.
	Files() []string
	// String describes the artifact for the final summary.
	String() string
	// State returns builder-specific values by name (for example
	// "generated_data" or "atlas.artifact.metadata"); nil when unknown.
	State(name string) any
	// Destroy deletes the artifact (used when a post-processor does not keep
	// its input).
	Destroy(ctx context.Context) error
}

// UI is how plugins talk to the user. Implementations prefix every line
// with the build name, mask secrets, and honour -machine-readable.
type UI interface {
	// Say prints a headline: "==> docker.hello: Starting container...".
	Say(msg string)
	// Message prints a detail line: "    docker.hello: output line".
	Message(msg string)
	// Error prints an error line.
	Error(msg string)
	// Stdout and Stderr return writers that print each line written to them
	// as a Message (remote command output). Partial lines are flushed by Close.
	Stdout() WriteCloser
	Stderr() WriteCloser
	// TrackProgress wraps a transfer of size bytes (-1 when unknown) with a
	// progress bar when a terminal is attached; otherwise it returns r.
	TrackProgress(label string, size int64, r ReadCloser) ReadCloser
}

// StepOptions maps the orchestrator's hooks onto a builder's step runner,
// and shows failed cleanups in the build's UI. Builders start from it, so
// that every hook reaches every builder.
func (e *BuildEnv) StepOptions() steps.Options {
	return steps.Options{
		BeforeStep:    e.Steps.BeforeStep,
		Retry:         e.Steps.Retry,
		KeepOnFailure: e.Steps.KeepOnFailure,
		OnCleanupError: func(step string, err error) {
			if e.UI != nil {
				e.UI.Error(err.Error())
			}
		},
	}
}
