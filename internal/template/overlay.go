package template

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/template/hcldecode"
)

// overlayBody is base with over's attributes and blocks laid on top: an
// attribute in over replaces base's attribute of the same name, and
// blocks of a type over has replace base's blocks of that type. It
// implements a provisioner's override for one source.
//
// With fillOnly set it implements a build-level source block instead,
// which, as in Packer, may only fill in what the top-level source leaves
// unset: setting an argument twice is an error, and blocks add up.
type overlayBody struct {
	base, over hcl.Body
	fillOnly   bool
}

var _ hcl.Body = overlayBody{}

func relaxed(schema *hcl.BodySchema) *hcl.BodySchema {
	out := &hcl.BodySchema{Blocks: schema.Blocks}
	for _, a := range schema.Attributes {
		out.Attributes = append(out.Attributes, hcl.AttributeSchema{Name: a.Name})
	}
	return out
}

func (b overlayBody) merge(schema *hcl.BodySchema, baseC, overC *hcl.BodyContent) (*hcl.BodyContent, hcl.Diagnostics) {
	out := &hcl.BodyContent{Attributes: hcl.Attributes{}, MissingItemRange: baseC.MissingItemRange}
	for n, a := range baseC.Attributes {
		out.Attributes[n] = a
	}
	var diags hcl.Diagnostics
	for n, a := range overC.Attributes {
		if old, dup := out.Attributes[n]; dup && b.fillOnly {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate argument",
				Detail: fmt.Sprintf("The top-level source block already sets %q (at %s). A build-level source "+
					"block can only set arguments the top-level source leaves unset; remove one of them.", n, old.Range),
				Subject: a.NameRange.Ptr(),
			})
			continue
		}
		out.Attributes[n] = a
	}
	overTypes := map[string]bool{}
	for _, blk := range overC.Blocks {
		overTypes[blk.Type] = !b.fillOnly
	}
	for _, blk := range baseC.Blocks {
		if !overTypes[blk.Type] {
			out.Blocks = append(out.Blocks, blk)
		}
	}
	out.Blocks = append(out.Blocks, overC.Blocks...)
	for _, a := range schema.Attributes {
		if a.Required && out.Attributes[a.Name] == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf("The argument %q is required, but no definition was found.", a.Name),
				Subject:  baseC.MissingItemRange.Ptr(),
			})
		}
	}
	return out, diags
}

func (b overlayBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	rs := relaxed(schema)
	baseC, diags := b.base.Content(rs)
	overC, d := b.over.Content(rs)
	diags = append(diags, d...)
	if baseC == nil || overC == nil {
		return &hcl.BodyContent{}, diags
	}
	out, d := b.merge(schema, baseC, overC)
	return out, append(diags, d...)
}

func (b overlayBody) PartialContent(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	rs := relaxed(schema)
	baseC, baseRest, diags := b.base.PartialContent(rs)
	overC, overRest, d := b.over.PartialContent(rs)
	diags = append(diags, d...)
	if baseC == nil || overC == nil {
		return &hcl.BodyContent{}, b, diags
	}
	out, d := b.merge(schema, baseC, overC)
	return out, overlayBody{base: baseRest, over: overRest, fillOnly: b.fillOnly}, append(diags, d...)
}

func (b overlayBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	attrs, diags := b.base.JustAttributes()
	over, d := b.over.JustAttributes()
	diags = append(diags, d...)
	if attrs == nil {
		attrs = hcl.Attributes{}
	}
	for n, a := range over {
		attrs[n] = a
	}
	return attrs, diags
}

func (b overlayBody) MissingItemRange() hcl.Range { return b.base.MissingItemRange() }

// MayHaveDynamic lets the decoder skip expanding dynamic blocks.
func (b overlayBody) MayHaveDynamic() bool {
	return hcldecode.MayHaveDynamic(b.base) || hcldecode.MayHaveDynamic(b.over)
}

// staticBody is a body of constant attributes (a provisioner override's
// options for one source).
type staticBody struct {
	values map[string]cty.Value
	rng    hcl.Range
}

var _ hcl.Body = staticBody{}

func (b staticBody) attrs(names map[string]bool) (hcl.Attributes, []string) {
	out := hcl.Attributes{}
	var unknown []string
	keys := make([]string, 0, len(b.values))
	for k := range b.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if names != nil && !names[k] {
			unknown = append(unknown, k)
			continue
		}
		out[k] = &hcl.Attribute{Name: k, Expr: hcl.StaticExpr(b.values[k], b.rng), Range: b.rng, NameRange: b.rng}
	}
	return out, unknown
}

func schemaNames(schema *hcl.BodySchema) (map[string]bool, []string) {
	names := map[string]bool{}
	var all []string
	for _, a := range schema.Attributes {
		names[a.Name] = true
		all = append(all, a.Name)
	}
	return names, all
}

func (b staticBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	names, all := schemaNames(schema)
	attrs, unknown := b.attrs(names)
	var diags hcl.Diagnostics
	for _, k := range unknown {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   fmt.Sprintf("The override sets %q, which this plugin does not have.%s", k, suggest(k, all)),
			Subject:  b.rng.Ptr(),
		})
	}
	return &hcl.BodyContent{Attributes: attrs, MissingItemRange: b.rng}, diags
}

func (b staticBody) PartialContent(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	names, _ := schemaNames(schema)
	attrs, unknown := b.attrs(names)
	rest := staticBody{values: map[string]cty.Value{}, rng: b.rng}
	for _, k := range unknown {
		rest.values[k] = b.values[k]
	}
	return &hcl.BodyContent{Attributes: attrs, MissingItemRange: b.rng}, rest, nil
}

func (b staticBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	attrs, _ := b.attrs(nil)
	return attrs, nil
}

func (b staticBody) MissingItemRange() hcl.Range { return b.rng }

// MayHaveDynamic is false: an override holds plain values.
func (b staticBody) MayHaveDynamic() bool { return false }
