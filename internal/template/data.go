package template

import (
	"fmt"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/sensitive"
)

// DataSource is a data block: data "TYPE" "NAME" { ... }.
type DataSource struct {
	Type, Name string
	Body       hcl.Body
	DeclRange  hcl.Range
	TypeRange  hcl.Range
	Value      cty.Value
}

func (t *Template) addDataSource(b *hcl.Block) hcl.Diagnostics {
	ds := &DataSource{Type: b.Labels[0], Name: b.Labels[1], Body: b.Body, DeclRange: b.DefRange, TypeRange: b.LabelRanges[0]}
	key := ds.Type + "." + ds.Name
	if old, dup := t.datas[key]; dup {
		return hcl.Diagnostics{duplicate("data source", key, old.DeclRange, ds.DeclRange)}
	}
	t.datas[key] = ds
	t.dataList = append(t.dataList, ds)
	return nil
}

// evaluateData decodes and prepares a data source, and executes it when
// asked to; otherwise its value is unknown, of its output type.
func (t *Template) evaluateData(ds *DataSource, ctx *hcl.EvalContext) hcl.Diagnostics {
	c, _ := t.catalog.New(plugin.KindDataSource, ds.Type)
	p := c.(plugin.DataSource)
	execute := t.opts.EvaluateDataSources
	diags := configure(p, ds.Body, ctx, ds.DeclRange, !execute, nil, t.legacy != nil)
	val := cty.DynamicVal
	if !diags.HasErrors() {
		if execute {
			v, err := p.Execute(t.ctx)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Data source %s.%s failed", ds.Type, ds.Name),
					Detail:   err.Error(),
					Subject:  ds.DeclRange.Ptr(),
				})
			} else {
				val = v
				// A data source marks the outputs that are secrets.
				t.addSensitive(sensitive.Strings(v)...)
			}
		} else {
			val = cty.UnknownVal(p.OutputType())
		}
	}
	ds.Value = val
	if t.dataValues[ds.Type] == nil {
		t.dataValues[ds.Type] = map[string]cty.Value{}
	}
	t.dataValues[ds.Type][ds.Name] = val
	return diags
}

// unknownType reports a plugin type that imgbuild does not have.
func unknownType(kind, typ string, known []string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Unknown %s type %q", kind, typ),
		Detail:   fmt.Sprintf("imgbuild has no %s named %q.%s Known: %v.", kind, typ, suggest(typ, known), known),
		Subject:  rng.Ptr(),
	}
}

// unknownComponent is unknownType for a template's block. When typ is
// named like the components of a required plugin that imgbuild has partly
// built in (amazon-parameterstore of github.com/hashicorp/amazon, whose
// amazon-ebs is built in) and no installed version of that plugin is
// there to serve it, the diagnostic also says what to install.
func (t *Template) unknownComponent(kind plugin.Kind, typ string, rng hcl.Range) *hcl.Diagnostic {
	d := unknownType(string(kind), typ, t.catalog.Types(kind), rng)
	for _, r := range t.packer.plugins {
		if !r.BuiltIn || !componentOf(typ, r.Name) {
			continue
		}
		builtin, installed := pluginTypes(t.catalog, r.Name)
		if installed {
			break // the plugin is there: typ is a typo, which unknownType handles
		}
		d.Detail += fmt.Sprintf(" The template requires %s as %q; imgbuild has %s of it built in, and no installed version of the plugin is there to serve %q: install it with `imgbuild init` on this template, or offline with `imgbuild plugins install --path /path/to/packer-plugin-%s %s`.",
			r.Source, r.Name, strings.Join(builtin, ", "), typ, path.Base(r.Source), r.Source)
		break
	}
	return d
}

// pluginTypes lists the built-in types named like the components of the
// plugin with local name name, and reports whether cat has others (an
// installed version of the plugin serves them).
func pluginTypes(cat plugin.Catalog, name string) (builtin []string, installed bool) {
	builtins := plugin.Builtins()
	for _, k := range []plugin.Kind{plugin.KindBuilder, plugin.KindProvisioner, plugin.KindPostProcessor, plugin.KindDataSource} {
		for _, typ := range cat.Types(k) {
			if !componentOf(typ, name) {
				continue
			}
			if builtins.Has(k, typ) {
				builtin = append(builtin, typ)
			} else {
				installed = true
			}
		}
	}
	return builtin, installed
}

// componentOf reports whether typ is named like a component of the plugin
// with local name name: the name itself, or name-SOMETHING.
func componentOf(typ, name string) bool {
	return typ == name || strings.HasPrefix(typ, name+"-")
}
