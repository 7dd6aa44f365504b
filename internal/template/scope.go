package template

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// scopedContext is the context one local or data source is evaluated in:
// local.* and data.* hold only what refs name. Building an object of every
// local for each local made n locals cost n² (40k locals took minutes);
// this keeps the work proportional to the references.
//
// A reference this cannot resolve (an undeclared name, local["x"], the bare
// local object) gets the whole context instead, so the expression means
// what it always meant and its error can list what exists.
func (t *Template) scopedContext(refs []hcl.Traversal) *hcl.EvalContext {
	locals := map[string]cty.Value{}
	data := map[string]map[string]cty.Value{}
	for _, tr := range refs {
		switch tr.RootName() {
		case "local":
			name := attrStep(tr, 1)
			v, ok := t.localValues[name]
			if !ok {
				return &hcl.EvalContext{Variables: t.rootValues(), Functions: t.functions()}
			}
			locals[name] = v
		case "data":
			typ, name := attrStep(tr, 1), attrStep(tr, 2)
			v, ok := t.dataValues[typ][name]
			if !ok {
				return &hcl.EvalContext{Variables: t.rootValues(), Functions: t.functions()}
			}
			if data[typ] == nil {
				data[typ] = map[string]cty.Value{}
			}
			data[typ][name] = v
		}
	}
	return &hcl.EvalContext{Variables: t.roots(locals, data), Functions: t.functions()}
}

// attrStep is the name of tr's i-th step when it is an attribute, or "".
func attrStep(tr hcl.Traversal, i int) string {
	if i < len(tr) {
		if a, ok := tr[i].(hcl.TraverseAttr); ok {
			return a.Name
		}
	}
	return ""
}
