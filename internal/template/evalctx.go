package template

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/imgbuild/imgbuild/internal/template/hcldecode"
)

// PackerVersion is the Packer core version imgbuild stands in for:
// packer.version, and what required_version is checked against.
const PackerVersion = "1.11.2"

func (t *Template) functions() map[string]function.Function {
	if t.funcs == nil {
		t.funcs = templateFunctions(t.cwd)
	}
	return t.funcs
}

// rootValues is the value of the var, local, data, path and packer roots
// as they stand now.
func (t *Template) rootValues() map[string]cty.Value {
	return t.roots(t.localValues, t.dataValues)
}

// roots is the value of the var, local, data, path and packer roots with
// the given locals and data sources. contextValues counts the locals and
// data sources it copies, so tests can prove evaluation does linear work.
func (t *Template) roots(locals map[string]cty.Value, dataValues map[string]map[string]cty.Value) map[string]cty.Value {
	data := map[string]cty.Value{}
	for typ, byName := range dataValues {
		data[typ] = cty.ObjectVal(byName)
		t.contextValues += len(byName)
	}
	t.contextValues += len(locals)
	vars := t.varObject
	if vars == cty.NilVal {
		vars = cty.ObjectVal(t.varValues)
	}
	return map[string]cty.Value{
		"var":   vars,
		"local": cty.ObjectVal(locals),
		"data":  cty.ObjectVal(data),
		"path": cty.ObjectVal(map[string]cty.Value{
			"root": cty.StringVal(t.baseDir),
			"cwd":  cty.StringVal(t.cwd),
		}),
		"packer": cty.ObjectVal(map[string]cty.Value{"version": cty.StringVal(PackerVersion)}),
	}
}

// EvalContext returns the context expressions are evaluated in after
// Load: variables, locals, data sources, path.*, packer.version and the
// functions. console uses it.
func (t *Template) EvalContext() *hcl.EvalContext {
	if t.evalCtx == nil {
		t.evalCtx = &hcl.EvalContext{Variables: t.rootValues(), Functions: t.functions()}
	}
	return t.evalCtx
}

// sourceContext adds source.type and source.name.
func (t *Template) sourceContext(typ, name string) *hcl.EvalContext {
	c := t.EvalContext().NewChild()
	c.Variables = map[string]cty.Value{
		"source": cty.ObjectVal(map[string]cty.Value{"type": cty.StringVal(typ), "name": cty.StringVal(name)}),
	}
	return c
}

func suggest(given string, known []string) string { return hcldecode.Suggest(given, known) }
