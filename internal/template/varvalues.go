package template

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/imgbuild/imgbuild/internal/sensitive"
	"github.com/imgbuild/imgbuild/internal/template/legacy"
)

const varEnvPrefix = "PKR_VAR_"

// collectVarValues applies, in Packer's order of precedence (a later one
// wins): PKR_VAR_ environment variables, *.auto.pkrvars.* files, then the
// command line's -var-file and -var in the order they were given.
func (t *Template) collectVarValues() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, kv := range t.opts.Env {
		if !strings.HasPrefix(kv, varEnvPrefix) {
			continue
		}
		name, value, ok := strings.Cut(kv[len(varEnvPrefix):], "=")
		v, found := t.variables[name]
		if !ok || !found {
			continue // undeclared PKR_VAR_ variables are ignored, as in Packer
		}
		diags = append(diags, t.setFromString(v, value, fmt.Sprintf("<value for var.%s from env>", name), "env")...)
	}
	autos, err := t.autoVarFiles()
	if err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Could not list var files", Detail: err.Error()})
	}
	for _, f := range autos {
		diags = append(diags, t.applyVarFile(f)...)
	}
	for _, arg := range t.opts.Vars {
		if arg.File != "" {
			diags = append(diags, t.applyVarFile(arg.File)...)
			continue
		}
		name, value, ok := strings.Cut(arg.Assign, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid -var option",
				Detail: fmt.Sprintf("The given -var option %q is not correctly specified. It must be a variable "+
					"name and a value separated by an equals sign, like -var \"key=value\".", arg.Assign),
			})
			continue
		}
		v, found := t.variables[name]
		if !found {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Undefined -var variable",
				Detail: fmt.Sprintf("A %q variable was passed in the command line but was not found in known "+
					"variables.%s To declare variable %q, place a variable block in one of your .pkr.hcl files, "+
					"such as variables.pkr.hcl.", name, suggestName(name, t.varOrder), name),
			})
			continue
		}
		diags = append(diags, t.setFromString(v, value, fmt.Sprintf("<value for var.%s from arguments>", name), "-var")...)
	}
	return diags
}

// setFromString sets v from a string given outside HCL (env, -var). As in
// Packer, the string is taken literally for string, number and untyped
// variables, and parsed as an HCL expression for the other types.
func (t *Template) setFromString(v *Variable, value, fakeFile, from string) hcl.Diagnostics {
	var expr hclsyntax.Expression
	switch v.Type {
	case cty.String, cty.Number, cty.NilType, cty.DynamicPseudoType:
		expr = &hclsyntax.LiteralValueExpr{Val: cty.StringVal(value), SrcRange: hcl.Range{Filename: fakeFile}}
	default:
		e, diags := hclsyntax.ParseExpression([]byte(value), fakeFile, hcl.Pos{Line: 1, Column: 1, Byte: 0})
		if diags.HasErrors() {
			return diags
		}
		expr = e
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	// The value has no place in a file: an error about it points at the
	// variable's declaration and says where the value came from.
	return append(diags, t.setValue(v, val, v.DeclRange, from)...)
}

func (t *Template) setValue(v *Variable, val cty.Value, rng hcl.Range, from string) hcl.Diagnostics {
	if v.Type != cty.NilType {
		if v.typeDefaults != nil {
			val = v.typeDefaults.Apply(val)
		}
		conv, err := convert.Convert(val, v.Type)
		if err != nil {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail: fmt.Sprintf("The value for %s %s is not compatible with the variable's type constraint: %s.",
					v.Name, valueOrigin(v.Name, from), errText(err)),
				Subject: rng.Ptr(),
			}}
		}
		val = conv
	}
	v.set, v.setFrom, v.setRange = val, from, rng
	return nil
}

// applyVarFile reads a var file (name = value lines) and sets the
// variables it names.
func (t *Template) applyVarFile(name string) hcl.Diagnostics {
	f, diags := t.parseFile(name)
	if diags.HasErrors() || f == nil {
		return diags
	}
	probe, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}}})
	if probe != nil && len(probe.Blocks) > 0 {
		for _, b := range probe.Blocks {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Variable declaration in a .pkrvars file",
				Detail: fmt.Sprintf("A .pkrvars file assigns values to variables declared in the .pkr.hcl files; "+
					"it cannot declare them. Move this block to a .pkr.hcl file, or assign the value with:\n    %s = <value>",
					b.Labels[0]),
				Subject: b.TypeRange.Ptr(),
			})
		}
		return diags
	}
	attrs, d := f.Body.JustAttributes()
	diags = append(diags, d...)
	legacyFile := isLegacyVarFile(name, attrs)
	for _, a := range sortedAttrs(attrs) {
		v, found := t.variables[a.Name]
		if !found {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Undefined variable",
				Detail: fmt.Sprintf("The variable %q was set in a var file but is not declared in a variable block; "+
					"the value is ignored.%s", a.Name, suggestName(a.Name, t.varOrder)),
				Subject: a.NameRange.Ptr(),
			})
			continue
		}
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if legacyFile && untyped(v) {
			val = t.legacyVarFileValue(v.Name, val)
		} else {
			delete(t.legacyVarFileValues, v.Name)
		}
		diags = append(diags, t.setValue(v, val, a.Expr.Range(), "var file")...)
	}
	return diags
}

// evaluateVariables decides each variable's value and checks its
// validation rules.
func (t *Template) evaluateVariables() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range t.varOrder {
		v := t.variables[name]
		switch {
		case v.setFrom != "":
			v.Value, v.ValueFrom = v.set, v.setFrom
		case v.HasDefault:
			v.Value, v.ValueFrom = v.Default, "default"
		default:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Unset variable %q", name),
				Detail: fmt.Sprintf("A used variable must be set or have a default value. Set it with "+
					"-var '%s=...', in a var file (-var-file or *.auto.pkrvars.hcl), or with the environment "+
					"variable PKR_VAR_%s.", name, name),
				Subject: v.DeclRange.Ptr(),
			})
			v.Value = cty.DynamicVal
			continue
		}
		if t.legacy != nil && v.Value.IsNull() {
			// Legacy templates' variables are strings; null is "".
			v.Value = cty.StringVal("")
		}
		if v.Value.IsNull() && !v.Nullable {
			if v.HasDefault && !v.Default.IsNull() {
				v.Value, v.ValueFrom = v.Default, "default"
			} else {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid value for variable",
					Detail:   fmt.Sprintf("The variable %q is not nullable, and its value is null.", name),
					Subject:  v.valueRange().Ptr(),
				})
			}
		}
		if v.Sensitive {
			t.addSensitive(stringLeaves(v.Value)...)
			// Marked, every value computed from it is marked too.
			v.Value = sensitive.Mark(v.Value)
		}
		t.varValues[name] = v.Value
	}
	if t.legacy != nil && !diags.HasErrors() {
		diags = append(diags, t.renderLegacyVariables()...)
	}
	if t.legacy == nil && len(t.legacyVarFileValues) > 0 && !diags.HasErrors() {
		t.renderLegacyVarFileValues()
	}
	if diags.HasErrors() {
		return diags
	}
	for _, name := range t.varOrder {
		diags = append(diags, t.validateVariable(t.variables[name])...)
	}
	return diags
}

// valueOrigin says where a value given outside the template came from.
func valueOrigin(name, from string) string {
	switch from {
	case "-var":
		return "given with -var"
	case "env":
		return "from the environment variable " + varEnvPrefix + name
	}
	return "set in a var file"
}

// setOutsideFiles says the value came from -var or the environment, so
// it has no source range of its own.
func (v *Variable) setOutsideFiles() bool { return v.setFrom == "-var" || v.setFrom == "env" }

func (v *Variable) valueRange() hcl.Range {
	if v.setFrom != "" && v.setRange.Filename != "" {
		return v.setRange
	}
	if v.ValueFrom == "default" && v.defRange.Filename != "" {
		return v.defRange
	}
	return v.DeclRange
}

func (t *Template) validateVariable(v *Variable) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: v.Value})},
		Functions: t.functions(),
	}
	for _, val := range v.validations {
		res, d := val.condition.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		res, _ = res.Unmark()
		if !res.IsKnown() {
			continue
		}
		res, err := convert.Convert(res, cty.Bool)
		if err != nil || res.IsNull() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid validation result",
				Detail:   "A validation condition must return true or false.",
				Subject:  val.condition.Range().Ptr(),
			})
			continue
		}
		if res.True() {
			continue
		}
		msg := "The value is not valid."
		if mv, d := val.message.Value(ctx); !d.HasErrors() && mv.IsWhollyKnown() && !mv.IsNull() && mv.Type() == cty.String {
			// A message that quotes a sensitive value is masked.
			msg = sensitive.Register(mv).AsString()
		}
		// A value written in a file is pointed at there; one from -var or
		// the environment has no place, so the rule it failed is.
		subject := v.valueRange()
		if v.setOutsideFiles() {
			subject = val.condition.Range()
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("%s\n\nThis was checked by the validation rule at %s (variable %q, value from %s).",
				msg, val.condition.Range().String(), v.Name, v.ValueFrom),
			Subject: subject.Ptr(),
		})
	}
	return diags
}

// stringLeaves returns every string in a value (for masking secrets).
func stringLeaves(v cty.Value) []string {
	v, _ = v.Unmark()
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return []string{v.AsString()}
	case ty == cty.Number || ty == cty.Bool:
		return nil
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, stringLeaves(e)...)
		}
		return out
	}
	return nil
}

func suggestName(given string, known []string) string {
	return suggest(given, known)
}

// renderLegacyVariables renders the {{ }} in a legacy template's variable
// values once all are known ({{user `other`}} in a var file's value).
func (t *Template) renderLegacyVariables() hcl.Diagnostics {
	raw := t.stringVarValues()
	rendered, err := t.legacy.RenderVariables(raw)
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid variable value", Detail: err.Error() + "."}}
	}
	for name, s := range rendered {
		t.setRendered(name, raw[name], s)
	}
	return nil
}

// stringVarValues are the variables' values that are known strings.
func (t *Template) stringVarValues() map[string]string {
	raw := map[string]string{}
	for name, v := range t.varValues {
		if u, _ := v.Unmark(); u.IsKnown() && !u.IsNull() && u.Type() == cty.String {
			raw[name] = u.AsString()
		}
	}
	return raw
}

// setRendered gives a variable its rendered value (masked when the
// variable is sensitive), when rendering changed it.
func (t *Template) setRendered(name, raw, rendered string) {
	if rendered == raw {
		return
	}
	v := cty.StringVal(rendered)
	if t.variables[name].Sensitive {
		t.addSensitive(rendered)
		v = sensitive.Mark(v)
	}
	t.varValues[name] = v
	t.variables[name].Value = v
}

// isLegacyVarFile reports whether a var file is a legacy Packer one: a
// *.json file (not *.pkrvars.json) whose values are all strings or null.
// Legacy Packer reads null as "" and renders {{user `x`}} and {{env `X`}}
// in the values. Projects keep such files when they move a template to
// HCL2 (hcl2_upgrade), so imgbuild reads them the legacy way for
// untyped variables, the only kind hcl2_upgrade declares.
func isLegacyVarFile(name string, attrs hcl.Attributes) bool {
	if !strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".pkrvars.json") {
		return false
	}
	for _, a := range attrs {
		v, d := a.Expr.Value(nil)
		if d.HasErrors() || !v.IsKnown() || (!v.IsNull() && v.Type() != cty.String) {
			return false
		}
	}
	return true
}

func untyped(v *Variable) bool { return v.Type == cty.NilType || v.Type == cty.DynamicPseudoType }

// legacyVarFileValue is val as legacy Packer reads it: null is "", and a
// value with {{ }} is rendered once every variable is known.
func (t *Template) legacyVarFileValue(name string, val cty.Value) cty.Value {
	if val.IsNull() {
		return cty.StringVal("")
	}
	if strings.Contains(val.AsString(), "{{") {
		if t.legacyVarFileValues == nil {
			t.legacyVarFileValues = map[string]bool{}
		}
		t.legacyVarFileValues[name] = true
	} else {
		delete(t.legacyVarFileValues, name)
	}
	return val
}

// renderLegacyVarFileValues renders the {{ }} of values that came from a
// legacy var file and were not set again after it.
func (t *Template) renderLegacyVarFileValues() {
	raw := t.stringVarValues()
	var names []string
	for name := range t.legacyVarFileValues {
		if v := t.variables[name]; v.setFrom == "var file" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	rendered := legacy.RenderVarFileValues(raw, names, legacy.Options{Now: time.Now(), Env: t.opts.Env, TemplateDir: t.baseDir, WorkDir: t.cwd})
	for _, name := range names {
		t.setRendered(name, raw[name], rendered[name])
	}
}
