package template

import (
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// addAttributeSuggestions adds "Did you mean" to hcl's "Unsupported
// attribute" errors for references such as var.imag or local.nmae, using
// the attributes the object actually has.
func addAttributeSuggestions(diags hcl.Diagnostics) {
	for _, d := range diags {
		if d.Summary != "Unsupported attribute" || strings.Contains(d.Detail, "Did you mean") || d.EvalContext == nil {
			continue
		}
		st, ok := d.Expression.(*hclsyntax.ScopeTraversalExpr)
		if !ok {
			continue
		}
		tr := st.Traversal
		for i := 1; i < len(tr); i++ {
			ga, ok := tr[i].(hcl.TraverseAttr)
			if !ok || !strings.Contains(d.Detail, `"`+ga.Name+`"`) {
				continue
			}
			parent, pd := tr[:i].TraverseAbs(d.EvalContext)
			if pd.HasErrors() || !parent.Type().IsObjectType() {
				break
			}
			var names []string
			for n := range parent.Type().AttributeTypes() {
				names = append(names, n)
			}
			sort.Strings(names)
			d.Detail += suggest(ga.Name, names)
			break
		}
	}
}
