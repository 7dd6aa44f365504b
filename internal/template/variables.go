package template

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/imgbuild/imgbuild/internal/template/funcs"
)

// defaultContext is what a variable's default is evaluated in. As in
// Packer, env is the only function there, and env is callable nowhere
// else: variables stay the one place a template takes its inputs from.
var defaultContext = &hcl.EvalContext{Functions: map[string]function.Function{"env": funcs.EnvFunc}}

// Variable is an input variable: a variable block, or one attribute of a
// variables block.
type Variable struct {
	Name        string
	Type        cty.Type // cty.NilType when neither type nor default says
	Default     cty.Value
	HasDefault  bool
	Description string
	Sensitive   bool
	Nullable    bool
	DeclRange   hcl.Range

	typeDefaults *typeexpr.Defaults
	validations  []*varValidation

	// set is the value from the environment, var files or -var, with
	// where it came from; setFrom is "" when none set it.
	set       cty.Value
	setFrom   string
	setRange  hcl.Range
	defRange  hcl.Range // the default's expression
	Value     cty.Value // the final value, after Load
	ValueFrom string    // "default", "env", "var file", "-var"
}

type varValidation struct {
	condition hcl.Expression
	message   hcl.Expression
	rng       hcl.Range
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"}, {Name: "default"}, {Name: "description"},
		{Name: "sensitive"}, {Name: "nullable"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "condition", Required: true},
	{Name: "error_message", Required: true},
}}

func (t *Template) decodeVariables() hcl.Diagnostics {
	var diags hcl.Diagnostics
	add := func(v *Variable) {
		if old, dup := t.variables[v.Name]; dup {
			diags = append(diags, duplicate("variable", v.Name, old.DeclRange, v.DeclRange))
			return
		}
		t.variables[v.Name] = v
		t.varOrder = append(t.varOrder, v.Name)
	}
	for _, b := range t.blocksOf("variable") {
		v, d := decodeVariableBlock(b)
		diags = append(diags, d...)
		if v != nil {
			add(v)
		}
	}
	for _, b := range t.blocksOf("variables") {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for _, a := range sortedAttrs(attrs) {
			val, d := a.Expr.Value(defaultContext)
			diags = append(diags, d...)
			add(&Variable{
				Name: a.Name, Default: val, HasDefault: true, Type: val.Type(),
				Nullable: true, DeclRange: a.Range,
			})
		}
	}
	return diags
}

func decodeVariableBlock(b *hcl.Block) (*Variable, hcl.Diagnostics) {
	v := &Variable{Name: b.Labels[0], Nullable: true, DeclRange: b.DefRange, Type: cty.NilType}
	var diags hcl.Diagnostics
	if !hclsyntax.ValidIdentifier(v.Name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   "A name must start with a letter or underscore and may contain only letters, digits, underscores, and dashes.",
			Subject:  b.LabelRanges[0].Ptr(),
		})
	}
	content, d := b.Body.Content(variableSchema)
	diags = append(diags, d...)
	if content == nil {
		return nil, diags
	}
	if a, ok := content.Attributes["type"]; ok {
		ty, defs, d := typeexpr.TypeConstraintWithDefaults(a.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.Type, v.typeDefaults = ty, defs
		}
	}
	diags = append(diags, constString(content.Attributes["description"], &v.Description)...)
	diags = append(diags, constBool(content.Attributes["sensitive"], &v.Sensitive)...)
	diags = append(diags, constBool(content.Attributes["nullable"], &v.Nullable)...)
	if a, ok := content.Attributes["default"]; ok {
		val, d := a.Expr.Value(defaultContext)
		diags = append(diags, d...)
		if !d.HasErrors() {
			if v.Type != cty.NilType {
				if v.typeDefaults != nil {
					val = v.typeDefaults.Apply(val)
				}
				conv, err := convert.Convert(val, v.Type)
				if err != nil {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid default value for variable",
						Detail:   fmt.Sprintf("This default value is not compatible with the variable's type constraint: %s.", errText(err)),
						Subject:  a.Expr.Range().Ptr(),
					})
					conv = cty.DynamicVal
				}
				val = conv
			} else {
				// Packer takes an untyped variable's type from its default.
				v.Type = val.Type()
			}
			v.Default, v.HasDefault, v.defRange = val, true, a.Expr.Range()
		}
	}
	for _, vb := range content.Blocks {
		vc, d := vb.Body.Content(validationSchema)
		diags = append(diags, d...)
		if vc == nil || vc.Attributes["condition"] == nil || vc.Attributes["error_message"] == nil {
			continue
		}
		val := &varValidation{condition: vc.Attributes["condition"].Expr, message: vc.Attributes["error_message"].Expr, rng: vb.DefRange}
		diags = append(diags, checkValidationRefs(v.Name, val)...)
		v.validations = append(v.validations, val)
	}
	return v, diags
}

// checkValidationRefs makes sure a condition only looks at its own
// variable, as Packer requires.
func checkValidationRefs(name string, val *varValidation) hcl.Diagnostics {
	var diags hcl.Diagnostics
	refsSelf := false
	for _, tr := range val.condition.Variables() {
		if tr.RootName() == "var" && len(tr) > 1 {
			if ga, ok := tr[1].(hcl.TraverseAttr); ok && ga.Name == name {
				refsSelf = true
				continue
			}
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid reference in variable validation",
			Detail:   fmt.Sprintf("The condition for variable %q can only refer to the variable itself, using var.%s.", name, name),
			Subject:  tr.SourceRange().Ptr(),
		})
	}
	if !refsSelf && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable validation condition",
			Detail:   fmt.Sprintf("The condition for variable %q must refer to var.%s in order to test incoming values.", name, name),
			Subject:  val.condition.Range().Ptr(),
		})
	}
	if mv, d := val.message.Value(nil); !d.HasErrors() && mv.IsKnown() && !mv.IsNull() && mv.Type() == cty.String {
		if !looksLikeSentences(mv.AsString()) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid validation error message",
				Detail:   "The validation error message must be at least one full sentence starting with an uppercase letter and ending with a period or question mark.",
				Subject:  val.message.Range().Ptr(),
			})
		}
	}
	return diags
}

func looksLikeSentences(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) < 1 {
		return false
	}
	runes := []rune(s)
	first, last := runes[0], runes[len(runes)-1]
	if !unicode.IsUpper(first) {
		return false
	}
	return last == '.' || last == '?' || last == '!'
}

func constString(a *hcl.Attribute, dst *string) hcl.Diagnostics {
	if a == nil {
		return nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	v, err := convert.Convert(v, cty.String)
	if err != nil || v.IsNull() || !v.IsKnown() {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + a.Name, Detail: "A constant string is required.", Subject: a.Expr.Range().Ptr()}}
	}
	*dst = v.AsString()
	return nil
}

func constBool(a *hcl.Attribute, dst *bool) hcl.Diagnostics {
	if a == nil {
		return nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	v, err := convert.Convert(v, cty.Bool)
	if err != nil || v.IsNull() || !v.IsKnown() {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid " + a.Name, Detail: "A constant true or false is required.", Subject: a.Expr.Range().Ptr()}}
	}
	*dst = v.True()
	return nil
}

func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Range, out[j].Range
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	return out
}

// errText renders a cty conversion error with its path, if any.
func errText(err error) string {
	if pe, ok := err.(cty.PathError); ok && len(pe.Path) > 0 {
		return fmt.Sprintf("%s: %s", formatPath(pe.Path), pe.Error())
	}
	return err.Error()
}

func formatPath(p cty.Path) string {
	var sb strings.Builder
	for _, step := range p {
		switch s := step.(type) {
		case cty.GetAttrStep:
			sb.WriteString("." + s.Name)
		case cty.IndexStep:
			if s.Key.Type() == cty.String {
				fmt.Fprintf(&sb, "[%q]", s.Key.AsString())
			} else if s.Key.Type() == cty.Number {
				fmt.Fprintf(&sb, "[%s]", s.Key.AsBigFloat().Text('f', -1))
			}
		}
	}
	return strings.TrimPrefix(sb.String(), ".")
}
