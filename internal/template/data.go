package template

import (
	"fmt"

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
				t.sensitive = append(t.sensitive, sensitive.Strings(v)...)
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
