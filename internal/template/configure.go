package template

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/sensitive"
	"github.com/imgbuild/imgbuild/internal/template/hcldecode"
)

// configure decodes body into the plugin's configuration and prepares it.
// allowUnknown is set when some values cannot be known yet (validate).
// core is what Packer's core passes beside the block (nil for data
// sources).
func configure(p plugin.Configurable, body hcl.Body, ctx *hcl.EvalContext, at hcl.Range, allowUnknown bool, core *plugin.CoreValues, weak bool) (diags hcl.Diagnostics) {
	// A plugin bug must not crash validate with a stack trace: report it
	// at the block instead.
	defer func() {
		if r := recover(); r != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Internal error in a plugin",
				Detail:   fmt.Sprintf("The %T plugin failed while reading this block: %v. This is a bug in imgbuild; please report it with the template.", p, r),
				Subject:  at.Ptr(),
			})
		}
	}()
	registerDerivedSecrets(body, ctx)
	if sc, ok := p.(plugin.SpecConfigurable); ok {
		return configureSpec(sc, body, ctx, at, core)
	}
	opts := hcldecode.Options{AllowUnknown: allowUnknown, Weak: weak}
	if allowUnknown {
		opts.UnknownString = hcldecode.UnknownPlaceholder
	}
	diags = hcldecode.Decode(body, ctx, p.Config(), opts)
	explainDiagnostics(diags)
	if diags.HasErrors() {
		return diags
	}
	warnings, err := p.Prepare()
	for _, w := range warnings {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: w, Subject: at.Ptr()})
	}
	return append(diags, prepareDiags(err, body, at)...)
}

// prepareDiags turns Prepare's error into diagnostics: hcl.Diagnostics are
// kept as they are; any other error (each of a joined one, each "* " line
// of a Packer plugin's multi-error) is reported at the option it names,
// or at the block when it names none that the block sets.
func prepareDiags(err error, body hcl.Body, at hcl.Range) hcl.Diagnostics {
	if err == nil {
		return nil
	}
	var hd hcl.Diagnostics
	if errors.As(err, &hd) {
		return hd
	}
	var d *hcl.Diagnostic
	if errors.As(err, &d) {
		return hcl.Diagnostics{d}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out hcl.Diagnostics
		for _, e := range j.Unwrap() {
			out = append(out, prepareDiags(e, body, at)...)
		}
		return out
	}
	if items := multiErrorItems(err.Error()); len(items) > 0 {
		var out hcl.Diagnostics
		for _, item := range items {
			out = append(out, prepareDiags(errors.New(item), body, at)...)
		}
		return out
	}
	summary, detail, _ := strings.Cut(err.Error(), "\n")
	subject := at
	if r, ok := optionRange(body, summary); ok {
		subject = r
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: subject.Ptr()}}
}

// multiErrorItems splits the "N error(s) occurred:\n\n* a\n* b" text of
// Packer's multi-errors (what external plugins return) into its items.
func multiErrorItems(msg string) []string {
	head, rest, ok := strings.Cut(msg, "\n")
	if !ok || !strings.Contains(head, "error") || !strings.Contains(rest, "* ") {
		return nil
	}
	var items []string
	for _, line := range strings.Split(rest, "\n") {
		if item, ok := strings.CutPrefix(strings.TrimSpace(line), "* "); ok {
			items = append(items, item)
		} else if n := len(items); n > 0 && strings.TrimSpace(line) != "" {
			items[n-1] += "\n" + line
		}
	}
	return items
}

// optionRange finds the option a plugin's error names: plugins, Packer's
// included, start their messages with it ("ami_name must be set",
// "temporary_security_group_source_cidrs: ...", "A ssh_username must be
// specified"). The first of the message's leading words that this block
// sets, as an attribute or a nested block, is the one.
func optionRange(body hcl.Body, msg string) (hcl.Range, bool) {
	words := strings.FieldsFunc(msg, func(r rune) bool {
		return !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	for i, w := range words {
		if i == 4 {
			break
		}
		if !hclsyntax.ValidIdentifier(w) {
			continue
		}
		content, _, _ := body.PartialContent(&hcl.BodySchema{
			Attributes: []hcl.AttributeSchema{{Name: w}},
			Blocks:     []hcl.BlockHeaderSchema{{Type: w}},
		})
		if content == nil {
			continue
		}
		if a, ok := content.Attributes[w]; ok {
			return hcl.RangeBetween(a.NameRange, a.Expr.Range()), true
		}
		if len(content.Blocks) > 0 {
			return content.Blocks[0].DefRange, true
		}
	}
	return hcl.Range{}, false
}

// configureSpec decodes body against an external plugin's ConfigSpec and
// hands the value to the plugin, as Packer does: values not known yet
// (validate) become Packer's placeholders, and sensitive values are
// registered for masking and unmarked (the protocol cannot carry marks;
// what the plugin prints goes through our UI, which masks them).
func configureSpec(p plugin.SpecConfigurable, body hcl.Body, ctx *hcl.EvalContext, at hcl.Range, core *plugin.CoreValues) hcl.Diagnostics {
	spec, err := p.ConfigSpec()
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the plugin's options", Detail: err.Error(), Subject: at.Ptr()}}
	}
	if hcldecode.MayHaveDynamic(body) {
		body = dynblock.Expand(body, ctx)
	}
	val, diags := hcldec.Decode(body, spec, ctx)
	explainDiagnostics(diags)
	if diags.HasErrors() {
		return diags
	}
	var cv plugin.CoreValues
	if core != nil {
		cv = *core
	}
	warnings, err := p.Configure(unknownsAsPlaceholders(val), cv)
	for _, w := range warnings {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: w, Subject: at.Ptr()})
	}
	return append(diags, prepareDiags(err, body, at)...)
}

// unknownPlaceholder is the string Packer's core and plugins use for a
// value not known yet (hcl2shim's UnknownVariableValue).
const unknownPlaceholder = "74D93920-ED26-11E3-AC10-0800200C9A66"

// unknownsAsPlaceholders replaces unknown values with what Packer hands
// plugins in their place: the placeholder string, 0, false, or null.
func unknownsAsPlaceholders(v cty.Value) cty.Value {
	v = sensitive.Register(v)
	out, _ := cty.Transform(v, func(_ cty.Path, v cty.Value) (cty.Value, error) {
		if v.IsKnown() {
			return v, nil
		}
		switch v.Type() {
		case cty.String:
			return cty.StringVal(unknownPlaceholder), nil
		case cty.Number:
			return cty.Zero, nil
		case cty.Bool:
			return cty.False, nil
		}
		return cty.NullVal(v.Type()), nil
	})
	return out
}

// resolvePlugins adds the installed plugins' components to the catalog
// (LoadOptions.Plugins) and checks that every source and data source names
// a known type; provisioner and post-processor types are checked as their
// build blocks are decoded.
func (t *Template) resolvePlugins() hcl.Diagnostics {
	var diags hcl.Diagnostics
	if t.opts.Plugins != nil {
		cat, d := t.opts.Plugins(t.packer.plugins)
		diags = append(diags, d...)
		if cat != nil {
			t.catalog = cat
		}
	}
	for _, s := range t.srcList {
		if !t.catalog.Has(plugin.KindBuilder, s.Type) {
			diags = append(diags, t.unknownComponent(plugin.KindBuilder, s.Type, s.TypeRange))
		}
	}
	for _, ds := range t.dataList {
		if !t.catalog.Has(plugin.KindDataSource, ds.Type) {
			diags = append(diags, t.unknownComponent(plugin.KindDataSource, ds.Type, ds.TypeRange))
		}
	}
	return diags
}
