package template

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// explainDiagnostics adds what hcl's own messages leave out: the names a
// reference could have meant, and why env is unknown outside defaults.
func explainDiagnostics(diags hcl.Diagnostics) {
	addAttributeSuggestions(diags)
	explainEnvOutsideDefault(diags)
}

// maxListedAttributes bounds the "known" list of an unsupported-attribute
// error: build.* and source.* are listed whole, var.* of a big template
// only gets the suggestion.
const maxListedAttributes = 30

// addAttributeSuggestions adds "Did you mean" to hcl's "Unsupported
// attribute" errors for references such as var.imag or build.Hots, using
// the attributes the object actually has, and lists them when they are
// few.
func addAttributeSuggestions(diags hcl.Diagnostics) {
	for _, d := range diags {
		if d.Summary != "Unsupported attribute" || strings.Contains(d.Detail, " has: ") || d.EvalContext == nil {
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
			if !strings.Contains(d.Detail, "Did you mean") {
				d.Detail += suggest(ga.Name, names)
			}
			if len(names) <= maxListedAttributes {
				d.Detail += fmt.Sprintf(" %s has: %s.", tr[:i].RootName()+traversalSuffix(tr[1:i]), strings.Join(names, ", "))
			}
			break
		}
	}
}

// explainEnvOutsideDefault adds why to hcl's "no function named env"
// error: Packer has env only in variable defaults.
func explainEnvOutsideDefault(diags hcl.Diagnostics) {
	for _, d := range diags {
		if d.Summary == "Call to unknown function" && strings.HasPrefix(d.Detail, `There is no function named "env".`) &&
			!strings.Contains(d.Detail, "default") {
			d.Detail += ` env can only be called in a variable's default, as in Packer: declare variable "x" { default = env("NAME") } and use var.x here.`
		}
	}
}

// traversalSuffix renders the attribute steps of a traversal: ".a.b".
func traversalSuffix(steps hcl.Traversal) string {
	var sb strings.Builder
	for _, st := range steps {
		if a, ok := st.(hcl.TraverseAttr); ok {
			sb.WriteString("." + a.Name)
		}
	}
	return sb.String()
}
