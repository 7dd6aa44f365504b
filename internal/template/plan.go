package template

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// BuildPlan is one (build block x source) pair, evaluated and ready for the
// orchestrator. Provisioners and post-processors are configured late,
// through Configure, because their blocks may reference build.* values
// that only exist once the builder's machine runs.
type BuildPlan struct {
	// Name is the build's full name as Packer shows it: "docker.hello", or
	// "mybuild.docker.hello" when the build block has a name. -only and
	// -except globs match it.
	Name       string
	BuildName  string // the build block's name, "" when unnamed
	SourceType string // "docker"
	SourceName string // "hello" (the build-level name when overridden)
	// Builder is decoded from the source block merged with the build's
	// source overrides, and prepared.
	Builder plugin.Builder
	// Provisioners, already filtered by only/except for this source, with
	// override blocks for this source applied.
	Provisioners []*ProvisionerPlan
	// ErrorCleanup is the error-cleanup-provisioner, nil when there is none.
	ErrorCleanup *ProvisionerPlan
	// PostProcessors holds the chains: each post-processors block is one
	// chain; each lone post-processor block is a chain of one.
	PostProcessors [][]*PostProcessorPlan
	// DefRange is where the build block (or source reference) stands.
	DefRange hcl.Range
}

// ProvisionerPlan is a provisioner block, not yet decoded.
type ProvisionerPlan struct {
	Type        string
	Name        string // the block's optional name label
	PauseBefore time.Duration
	MaxRetries  int
	Timeout     time.Duration // 0: none
	DefRange    hcl.Range
	// Configure decodes the block with build.* set from generated (values
	// missing from generated evaluate as empty strings) and prepares the
	// provisioner. Diagnostics carry the block's ranges.
	Configure func(generated plugin.GeneratedData) (plugin.Provisioner, hcl.Diagnostics)
}

// PostProcessorPlan is a post-processor block, not yet decoded.
type PostProcessorPlan struct {
	Type string
	Name string
	// KeepInputArtifact is the block's keep_input_artifact; nil when unset.
	KeepInputArtifact *bool
	DefRange          hcl.Range
	Configure         func(generated plugin.GeneratedData) (plugin.PostProcessor, hcl.Diagnostics)
}
