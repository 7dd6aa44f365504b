package template

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// builtinPlugins are the Packer plugins imgbuild has built in, by the name
// a required_plugins source ends with, and the plugin version whose
// options imgbuild follows.
var builtinPlugins = map[string]string{
	"amazon": "1.2.1",
	"docker": "1.0.8",
	"qemu":   "1.0.9",
}

// RequiredPlugin is one entry of a required_plugins block.
type RequiredPlugin struct {
	Name    string // the local name (the attribute's name)
	Source  string // "github.com/hashicorp/amazon"
	Version string // the constraint, "" when none
	BuiltIn bool
	Range   hcl.Range
}

type packerSettings struct {
	plugins []*RequiredPlugin
	// duplicates are entries whose local name an earlier entry took:
	// Packer reports them when it resolves plugins, not in a syntax check.
	duplicates hcl.Diagnostics
}

var packerBlockSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "required_version"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "required_plugins"}},
}

// RequiredPlugins lists the template's required_plugins entries.
func (t *Template) RequiredPlugins() []*RequiredPlugin { return t.packer.plugins }

// checkPackerBlock enforces required_version and reads required_plugins.
func (t *Template) checkPackerBlock() hcl.Diagnostics {
	var diags hcl.Diagnostics
	current := version.Must(version.NewVersion(PackerVersion))
	for _, b := range t.blocksOf("packer") {
		content, d := b.Body.Content(packerBlockSchema)
		diags = append(diags, d...)
		if content == nil {
			continue
		}
		if a := content.Attributes["required_version"]; a != nil {
			var s string
			if d := constString(a, &s); d.HasErrors() {
				diags = append(diags, d...)
			} else if c, err := version.NewConstraint(s); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid required_version", Detail: fmt.Sprintf("%q is not a version constraint: %v.", s, err), Subject: a.Expr.Range().Ptr()})
			} else if !c.Check(current) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unsupported Packer Core version",
					Detail:   fmt.Sprintf("This template requires Packer %s; imgbuild is compatible with Packer %s.", s, PackerVersion),
					Subject:  a.Expr.Range().Ptr(),
				})
			}
		}
		for _, rp := range content.Blocks {
			diags = append(diags, t.decodeRequiredPlugins(rp)...)
		}
	}
	if !t.opts.SyntaxOnly {
		diags = append(diags, t.packer.duplicates...)
	}
	return diags
}

// PluginRequirementErrors are the errors of required_plugins that a
// syntax-only load does not report: an entry whose local name an earlier
// entry, in this file or another, already took.
func (t *Template) PluginRequirementErrors() hcl.Diagnostics { return t.packer.duplicates }

func (t *Template) decodeRequiredPlugins(b *hcl.Block) hcl.Diagnostics {
	attrs, diags := b.Body.JustAttributes()
	for _, a := range sortedAttrs(attrs) {
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		rp := &RequiredPlugin{Name: a.Name, Range: a.Range}
		if prev := t.requiredPlugin(a.Name); prev != nil {
			t.packer.duplicates = append(t.packer.duplicates, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate required_plugins entry %q", a.Name),
				Detail:   fmt.Sprintf("%s is already required at %s. A local name names one plugin; give the other entry another name.", a.Name, prev.Range),
				Subject:  a.Range.Ptr(),
			})
			continue
		}
		if !val.Type().IsObjectType() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid required_plugins entry", Detail: fmt.Sprintf("%s must be an object such as { version = \">= 1.0.0\", source = \"github.com/hashicorp/%s\" }.", a.Name, a.Name), Subject: a.Expr.Range().Ptr()})
			continue
		}
		for k, v := range val.AsValueMap() {
			if v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid required_plugins entry", Detail: fmt.Sprintf("%s.%s must be a string.", a.Name, k), Subject: a.Expr.Range().Ptr()})
				continue
			}
			switch k {
			case "source":
				rp.Source = v.AsString()
			case "version":
				rp.Version = v.AsString()
			default:
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid required_plugins entry", Detail: fmt.Sprintf("%s has an unexpected key %q; only version and source are allowed.", a.Name, k), Subject: a.Expr.Range().Ptr()})
			}
		}
		if rp.Source == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing plugin source", Detail: fmt.Sprintf("%s needs a source such as \"github.com/hashicorp/%s\".", a.Name, a.Name), Subject: a.Expr.Range().Ptr()})
			continue
		}
		short := pluginShortName(rp.Source)
		have, builtin := builtinPlugins[short]
		rp.BuiltIn = builtin
		if rp.Version != "" {
			c, err := version.NewConstraint(rp.Version)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid plugin version constraint", Detail: fmt.Sprintf("%q is not a version constraint: %v.", rp.Version, err), Subject: a.Expr.Range().Ptr()})
				continue
			}
			if builtin && !c.Check(version.Must(version.NewVersion(have))) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  fmt.Sprintf("Built-in %s plugin does not match %s", short, rp.Version),
					Detail:   fmt.Sprintf("imgbuild's built-in %s plugin follows version %s; options added later may be missing.", short, have),
					Subject:  a.Range.Ptr(),
				})
			}
		}
		t.packer.plugins = append(t.packer.plugins, rp)
	}
	return diags
}

func (t *Template) requiredPlugin(name string) *RequiredPlugin {
	for _, rp := range t.packer.plugins {
		if rp.Name == name {
			return rp
		}
	}
	return nil
}

// pluginShortName turns "github.com/hashicorp/amazon" into "amazon" (and
// "packer-plugin-amazon" into "amazon").
func pluginShortName(source string) string {
	parts := strings.Split(strings.TrimSuffix(source, "/"), "/")
	return strings.TrimPrefix(parts[len(parts)-1], "packer-plugin-")
}

// Dir is the template's folder (path.root): Packer plugins installed as
// legacy single binaries next to the template are found there.
func (t *Template) Dir() string { return t.baseDir }
