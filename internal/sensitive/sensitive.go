// Package sensitive marks template values that must never be shown
// (sensitive variables and locals, secrets read from a secret store) with
// a cty value mark. HCL and cty carry marks through every operator,
// template and function call, so upper(var.pw), "x-${var.pw}" and a local
// computed from var.pw are marked too, as in Terraform. Where a marked
// value leaves the template engine (decoded into a plugin's options, shown
// by console or inspect) its strings are registered with internal/secret,
// which masks them in everything printed or written.
package sensitive

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// valueMark is the mark's type: unexported, so that no other package's
// mark can be mistaken for it.
type valueMark string

// mark is the one mark sensitive values carry.
const mark = valueMark("sensitive")

// Mark returns v marked sensitive.
func Mark(v cty.Value) cty.Value { return v.Mark(mark) }

// Has reports whether v or any value inside it is marked. Any mark
// counts: imgbuild only marks what is sensitive.
func Has(v cty.Value) bool { return v.ContainsMarked() }

// Strings returns every string in v that is marked or inside a marked
// value: the texts that must be masked wherever v ends up.
func Strings(v cty.Value) []string {
	var out []string
	collect(v, false, &out)
	return out
}

func collect(v cty.Value, inMarked bool, out *[]string) {
	v, marks := v.Unmark()
	inMarked = inMarked || len(marks) > 0
	if !v.IsKnown() || v.IsNull() {
		return
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		if inMarked {
			*out = append(*out, v.AsString())
		}
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			collect(e, inMarked, out)
		}
	}
}

// Register registers the strings of v's marked parts with internal/secret
// (as declared-sensitive values, masked everywhere) and returns v without
// marks, at any depth. Call it where a value leaves the template engine.
func Register(v cty.Value) cty.Value {
	if !v.ContainsMarked() {
		return v
	}
	secret.AddSensitive(Strings(v)...)
	v, _ = v.UnmarkDeep()
	return v
}
