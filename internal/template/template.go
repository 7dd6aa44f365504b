// Package template reads Packer HCL2 templates (*.pkr.hcl, *.pkr.json) and
// turns them into BuildPlans: variables (with Packer's precedence of
// defaults, PKR_VAR_ environment variables, var files and -var), locals,
// data sources, sources and builds. Every problem is reported as an
// hcl.Diagnostic that points at the file, line and column.
package template

import (
	"context"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/template/legacy"
)

// VarArg is one -var "name=value" (Assign) or one -var-file (File), in
// command-line order.
type VarArg struct {
	Assign string
	File   string
}

// LoadOptions say what to load and how.
type LoadOptions struct {
	Path string   // a template file or a directory
	Vars []VarArg // command-line order; a later one wins
	Env  []string // os.Environ(), for PKR_VAR_name
	// SyntaxOnly stops after parsing and checking the blocks' structure.
	SyntaxOnly bool
	// EvaluateDataSources executes data sources; otherwise their values
	// are unknown (validate's default, like Packer's).
	EvaluateDataSources bool
	// Plugins, when set, adds the component types of installed Packer
	// plugins to the built-in ones, given the template's required_plugins.
	// It is not called for a syntax-only load, which starts no plugin.
	Plugins func(reqs []*RequiredPlugin) (plugin.Catalog, hcl.Diagnostics)
	// Debug, Force and OnError are -debug, -force and -on-error, which
	// Packer's core passes to every plugin beside its block.
	Debug, Force bool
	OnError      string
}

// Template is a loaded template: its files, and the values of its
// variables, locals and data sources.
type Template struct {
	opts    LoadOptions
	ctx     context.Context
	baseDir string // path.root
	cwd     string // path.cwd

	parser *hclparse.Parser
	inline map[string][]byte // in-memory files (fuzzing); nil reads opts.Path
	// legacy is the translation of a legacy JSON template, named
	// legacyName among the parsed files; nil for HCL2 templates.
	legacy     *legacy.Translation
	legacyName string
	// legacyVarFileValues names the variables whose value came from a
	// legacy JSON var file with {{ }} in it (rendered once all are known).
	legacyVarFileValues map[string]bool
	fileNames           []string           // the template's own files, in load order
	bodies              []*hcl.BodyContent // each file's top-level blocks, in load order

	packer  packerSettings
	catalog plugin.Catalog // the component types; built-ins until resolvePlugins
	// duplicateSources are source blocks whose TYPE.NAME an earlier one
	// took: errors of a full load only.
	duplicateSources hcl.Diagnostics
	variables        map[string]*Variable
	varOrder         []string
	locals           map[string]*Local
	localList        []*Local
	datas            map[string]*DataSource // "type.name"
	dataList         []*DataSource
	sources          map[string]*Source // "type.name"
	srcList          []*Source
	builds           []*Build

	varValues   map[string]cty.Value
	varObject   cty.Value // var.* once every variable has its value; NilVal before
	localValues map[string]cty.Value
	dataValues  map[string]map[string]cty.Value
	funcs       map[string]function.Function
	sensitive   []string
	evalCtx     *hcl.EvalContext
	// contextValues counts the locals and data sources copied into
	// evaluation contexts (see roots).
	contextValues int
}

// Load reads the template at opts.Path with its variables. The returned
// Template is never nil, so that its Files can print the diagnostics.
func Load(ctx context.Context, opts LoadOptions) (*Template, hcl.Diagnostics) {
	if opts.Path == "" {
		opts.Path = "."
	}
	t := Empty(ctx)
	t.opts = opts
	diags := t.remapLegacy(t.load())
	explainDiagnostics(diags)
	return t, diags
}

// addSensitive records values of sensitive variables, locals and data
// source outputs (or computed from them) and registers them for masking
// at once: the data sources configured and run later in the load, and the
// secrets computed inside their options, are masked too.
func (t *Template) addSensitive(vals ...string) {
	if len(vals) == 0 {
		return
	}
	t.sensitive = append(t.sensitive, vals...)
	secret.AddSensitive(vals...)
}

func (t *Template) load() hcl.Diagnostics {
	diags := t.parseFiles()
	if diags.HasErrors() {
		return diags
	}
	diags = append(diags, t.decodeStructure()...)
	if diags.HasErrors() {
		return diags
	}
	diags = append(diags, t.checkPackerBlock()...)
	if diags.HasErrors() {
		return diags
	}
	diags = append(diags, t.decodeVariables()...)
	if diags.HasErrors() {
		return diags
	}
	diags = append(diags, t.collectVarValues()...)
	if diags.HasErrors() || t.opts.SyntaxOnly {
		return diags
	}
	diags = append(diags, t.duplicateSources...)
	diags = append(diags, t.resolvePlugins()...)
	if diags.HasErrors() {
		return diags
	}
	diags = append(diags, t.evaluateVariables()...)
	if diags.HasErrors() {
		return diags
	}
	diags = append(diags, t.evaluateLocalsAndData()...)
	if diags.HasErrors() {
		return diags
	}
	diags = append(diags, t.decodeBuilds()...)
	return diags
}

// Files returns every parsed file by name, for printing diagnostics with
// their source lines.
func (t *Template) Files() map[string]*hcl.File {
	if t == nil || t.parser == nil {
		return nil
	}
	return t.parser.Files()
}

// SensitiveValues returns the values of sensitive variables and locals
// (already registered with internal/secret).
func (t *Template) SensitiveValues() []string {
	out := append([]string(nil), t.sensitive...)
	sort.Strings(out)
	return out
}

// Builds returns the template's build blocks (for inspect).
func (t *Template) Builds() []*Build { return t.builds }

// Sources returns the top-level source blocks in the order written.
func (t *Template) Sources() []*Source { return t.srcList }

// Variables returns the input variables in the order declared.
func (t *Template) Variables() []*Variable {
	out := make([]*Variable, 0, len(t.varOrder))
	for _, n := range t.varOrder {
		out = append(out, t.variables[n])
	}
	return out
}

// Locals returns the locals in the order declared.
func (t *Template) Locals() []*Local { return t.localList }

// DataSources returns the data blocks in the order declared.
func (t *Template) DataSources() []*DataSource { return t.dataList }
