package plugin

import (
	"context"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// SpecConfigurable is implemented by components that describe their
// options with an hcldec spec instead of a Go struct: the external Packer
// plugins, whose options only their process knows. For them the template
// engine decodes the block against ConfigSpec, with the same diagnostics
// as for a native block, and hands the value to Configure; their Config
// returns nil and their Prepare is never called.
type SpecConfigurable interface {
	// ConfigSpec is the block's schema. An error means the component
	// could not be asked (its plugin did not start); it is reported at the
	// block.
	ConfigSpec() (hcldec.ObjectSpec, error)
	// Configure prepares the component with the decoded block, in which
	// values not known yet are placeholders, and core. It may be called
	// again on the same component with known values before the component
	// runs, as Packer prepares a provisioner again with the build's values.
	// An error is reported as Prepare's is.
	Configure(cfg cty.Value, core CoreValues) (warnings []string, err error)
}

// CoreValues are what Packer's core passes every builder, provisioner and
// post-processor beside its block (as packer_build_name, packer_debug,
// ...). Data sources get none.
type CoreValues struct {
	BuildName   string // packer_build_name: the source's name in the build ("hello")
	BuilderType string // packer_builder_type ("docker")
	CoreVersion string // packer_core_version
	Debug       bool   // packer_debug (-debug)
	Force       bool   // packer_force (-force)
	OnError     string // packer_on_error (-on-error), "cleanup" when unset
	// UserVariables and SensitiveVariables are packer_user_variables and
	// packer_sensitive_variables, which Packer passes only for legacy JSON
	// templates; nil for HCL2.
	UserVariables      map[string]string
	SensitiveVariables []string
}

// Asker is implemented by UIs that can ask the user a question (the CLI's
// UI; a plugin's Ui.Ask reaches it). A UI without it answers with an error.
type Asker interface {
	Ask(ctx context.Context, prompt string) (string, error)
}

// MachineUI is implemented by UIs that print -machine-readable rows (the
// CLI's UI; a plugin's Ui.Machine reaches it). Rows are dropped elsewhere.
type MachineUI interface {
	Machine(typ string, data ...string)
}
