package hcldecode

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Options tune how values that are not known yet are handled.
type Options struct {
	// AllowUnknown leaves a field whose value is not known yet (a
	// late-bound build.* value, a data source that was not executed) at
	// its zero value instead of reporting an error. String fields get
	// UnknownString instead, so that a plugin's "is it set?" checks pass
	// as they do in Packer, which also substitutes a placeholder.
	AllowUnknown  bool
	UnknownString string
	// Weak decodes as Packer decodes legacy JSON templates: a string
	// where a list is expected is split at commas ("a,b" is ["a", "b"]),
	// and any other lone value is a list of one.
	Weak bool
}

// UnknownPlaceholder is the value validate gives string options whose
// value is only known when a build runs. It is a plain lowercase word so
// that format checks (image references, host names, ids) accept it, as
// they would accept the real value.
const UnknownPlaceholder = "unknown"

// Decode decodes body into target, a pointer to a struct tagged as the
// package documentation describes. dynamic blocks in body are expanded
// with ctx first.
func Decode(body hcl.Body, ctx *hcl.EvalContext, target any, opts Options) hcl.Diagnostics {
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Internal error: plugin configuration is not a pointer to a struct",
			Detail:   fmt.Sprintf("Config() returned %T; report this as a bug of the plugin.", target),
			Subject:  rangePtr(body.MissingItemRange()),
		}}
	}
	d := &decoder{ctx: ctx, opts: opts}
	if MayHaveDynamic(body) {
		body = dynblock.Expand(body, ctx)
	}
	return d.body(body, rv.Elem())
}

// MayHaveDynamic reports whether body may hold a dynamic block, at any
// depth. It is exact for native syntax bodies, and for bodies that say so
// through a MayHaveDynamic method; expanding costs, so bodies without any
// skip it.
func MayHaveDynamic(body hcl.Body) bool {
	switch b := body.(type) {
	case *hclsyntax.Body:
		for _, blk := range b.Blocks {
			if blk.Type == "dynamic" || MayHaveDynamic(blk.Body) {
				return true
			}
		}
		return false
	case interface{ MayHaveDynamic() bool }:
		return b.MayHaveDynamic()
	}
	return true
}

type decoder struct {
	ctx  *hcl.EvalContext
	opts Options
}

func (d *decoder) body(body hcl.Body, dst reflect.Value) hcl.Diagnostics {
	info, err := infoFor(dst.Type())
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Internal error: plugin configuration cannot be decoded",
			Detail:   err.Error(),
			Subject:  rangePtr(body.MissingItemRange()),
		}}
	}
	var (
		content *hcl.BodyContent
		diags   hcl.Diagnostics
		attrs   = info.allAttrs
	)
	if info.remain != nil {
		var rest hcl.Body
		content, rest, diags = body.PartialContent(info.schema)
		rf := fieldByIndex(dst, info.remain.index)
		if rf.Type() == bodyType {
			rf.Set(reflect.ValueOf(rest))
		}
	} else {
		var schema *hcl.BodySchema
		schema, attrs = info.schemaFor(body)
		content, diags = body.Content(schema)
	}
	addSuggestions(diags, info.names)
	if content == nil {
		return diags
	}

	for _, i := range attrs {
		f := info.attrs[i]
		attr, ok := content.Attributes[f.name]
		if !ok {
			continue
		}
		val, vd := attr.Expr.Value(d.ctx)
		diags = append(diags, vd...)
		if vd.HasErrors() {
			continue
		}
		diags = append(diags, d.assign(fieldByIndex(dst, f.index), val, f.name, attr.Expr.Range())...)
	}

	byType := map[string][]*hcl.Block{}
	for _, b := range content.Blocks {
		byType[b.Type] = append(byType[b.Type], b)
	}
	for _, f := range info.blocks {
		blocks := byType[f.name]
		if len(blocks) == 0 {
			continue
		}
		fv := fieldByIndex(dst, f.index)
		switch f.typ.Kind() {
		case reflect.Slice:
			elemT := f.typ.Elem()
			out := reflect.MakeSlice(f.typ, 0, len(blocks))
			for _, b := range blocks {
				ev, bd := d.block(b, elemT)
				diags = append(diags, bd...)
				out = reflect.Append(out, ev)
			}
			fv.Set(out)
		default:
			if len(blocks) > 1 {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Duplicate %s block", f.name),
					Detail: fmt.Sprintf("Only one %q block is allowed here; the first one is at %s.",
						f.name, blocks[0].DefRange),
					Subject: blocks[1].DefRange.Ptr(),
				})
			}
			ev, bd := d.block(blocks[0], f.typ)
			diags = append(diags, bd...)
			fv.Set(ev)
		}
	}
	return diags
}

// block decodes one block into a new value of type t (a struct or a
// pointer to one).
func (d *decoder) block(b *hcl.Block, t reflect.Type) (reflect.Value, hcl.Diagnostics) {
	isPtr := t.Kind() == reflect.Pointer
	st := t
	if isPtr {
		st = t.Elem()
	}
	pv := reflect.New(st)
	var diags hcl.Diagnostics
	if info, err := infoFor(st); err == nil {
		for i, l := range info.labels {
			if i < len(b.Labels) {
				lf := fieldByIndex(pv.Elem(), l.index)
				if lf.Kind() == reflect.String {
					lf.SetString(b.Labels[i])
				}
			}
		}
	}
	diags = append(diags, d.body(b.Body, pv.Elem())...)
	if isPtr {
		return pv, diags
	}
	return pv.Elem(), diags
}

// unknownMessage explains a value that is needed now but only known later.
func (d *decoder) unknown(name string, rng hcl.Range) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Value not known yet",
		Detail: fmt.Sprintf("The value of %q depends on a value that is only known later "+
			"(a data source or a build.* value); use it where it can be resolved.", name),
		Subject: rng.Ptr(),
	}}
}

func rangePtr(r hcl.Range) *hcl.Range { return &r }

// sortedKeys returns m's keys in order, so decoding is deterministic.
func sortedKeys(m map[string]cty.Value) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// addSuggestions adds "Did you mean" to hcl's unsupported-name errors that
// lack one, over every name the struct accepts (attributes and blocks).
func addSuggestions(diags hcl.Diagnostics, names []string) {
	for _, d := range diags {
		if d.Summary != "Unsupported argument" && d.Summary != "Unsupported block type" && d.Summary != "Extraneous JSON object property" {
			continue
		}
		if strings.Contains(d.Detail, "Did you mean") {
			continue
		}
		_, rest, ok := strings.Cut(d.Detail, "\"")
		if !ok {
			continue
		}
		name, _, ok := strings.Cut(rest, "\"")
		if !ok {
			continue
		}
		d.Detail += Suggest(name, names)
	}
}
