package template

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Evaluate evaluates one expression against the loaded template (var.*,
// local.*, data.*, path.*, packer.version and the functions), as
// `imgbuild console` does.
func (t *Template) Evaluate(src string) (cty.Value, hcl.Diagnostics) {
	const name = "<console-input>"
	// Registered so diagnostics can show the line.
	t.parser.AddFile(name, &hcl.File{Body: hcl.EmptyBody(), Bytes: []byte(src)})
	expr, diags := hclsyntax.ParseExpression([]byte(src), name, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	v, d := expr.Value(t.EvalContext())
	diags = append(diags, d...)
	explainDiagnostics(diags)
	return v, diags
}
