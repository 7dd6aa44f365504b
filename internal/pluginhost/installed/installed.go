// Package installed finds the Packer plugin binaries a user has installed,
// as Packer 1.9 does (PACKER_PLUGIN_PATH, the plugin directory layout with
// its _SHA256SUM files, the legacy single-binary names), asks each what it
// serves (`describe`), and names the components they serve as a template
// refers to them, with required_plugins applied.
//
// It only reads, runs `describe` and copies files (install/remove); the
// plugin processes that serve builds are internal/pluginhost's.
package installed

import (
	"github.com/hashicorp/hcl/v2"
)

// APIVersion is the plugin protocol version imgbuild speaks, as plugins
// print it in `describe` and in their layout file names.
const APIVersion = "x5.0"

// Kind is a kind of component.
type Kind string

const (
	Builder       Kind = "builder"
	Provisioner   Kind = "provisioner"
	PostProcessor Kind = "post-processor"
	Datasource    Kind = "datasource"
)

// DefaultName is the component name a plugin uses for the component that
// takes the plugin's own name ("ansible" rather than "ansible-...").
const DefaultName = "-packer-default-plugin-name-"

// Description is what `packer-plugin-NAME describe` prints.
type Description struct {
	Version        string   `json:"version"`
	SDKVersion     string   `json:"sdk_version"`
	APIVersion     string   `json:"api_version"`
	Builders       []string `json:"builders"`
	PostProcessors []string `json:"post_processors"`
	Provisioners   []string `json:"provisioners"`
	Datasources    []string `json:"datasources"`
}

// Plugin is one installed plugin binary.
type Plugin struct {
	// Source is "github.com/hashicorp/ansible" for a binary in the
	// plugin directory layout; "" for a legacy single binary found by
	// its name (packer-plugin-NAME).
	Source string
	// Name is the plugin's name ("ansible"): the prefix of the type
	// names of its components when no required_plugins entry renames it.
	Name string
	// Version is the version from the layout's file name, or the one the
	// binary describes for a legacy binary.
	Version string
	Path    string // the binary
	Desc    Description
}

// Requirement is one required_plugins entry.
type Requirement struct {
	LocalName  string // the attribute's name: the prefix of the type names
	Source     string // "github.com/hashicorp/ansible"
	Constraint string // "" when none
	Range      hcl.Range
	// BuiltIn says imgbuild serves the plugin's components natively, so
	// that nothing installed meeting the entry is no error.
	BuiltIn bool
}

// Component is one component an installed plugin serves, under the type
// name a template uses for it.
type Component struct {
	Kind   Kind
	Type   string // "azure-arm", "ansible", "mydocker"
	Name   string // the name `start KIND NAME` takes: "arm", DefaultName
	Plugin *Plugin
}

// Options say where to look for plugins.
type Options struct {
	// TemplateDir is the template's folder (legacy binaries next to it).
	TemplateDir string
	// WorkDir is the working directory (legacy binaries there too).
	WorkDir string
	// Env is the environment (PACKER_PLUGIN_PATH, PACKER_CONFIG_DIR,
	// HOME, ...); os.Environ() in the CLI.
	Env []string
	// DescribeCache is a file where `describe` results are kept, keyed by
	// binary path, size and modification time, so that a run does not
	// start every installed plugin; "" keeps nothing.
	DescribeCache string
}
