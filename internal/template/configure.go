package template

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/template/hcldecode"
)

// configure decodes body into the plugin's configuration and prepares it.
// allowUnknown is set when some values cannot be known yet (validate).
func configure(p plugin.Configurable, body hcl.Body, ctx *hcl.EvalContext, at hcl.Range, allowUnknown bool) (diags hcl.Diagnostics) {
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
	opts := hcldecode.Options{AllowUnknown: allowUnknown}
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
	return append(diags, prepareDiags(err, at)...)
}

// prepareDiags turns Prepare's error into diagnostics: hcl.Diagnostics are
// kept as they are; any other error (each of a joined one) is reported at
// the block.
func prepareDiags(err error, at hcl.Range) hcl.Diagnostics {
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
			out = append(out, prepareDiags(e, at)...)
		}
		return out
	}
	summary, detail, _ := strings.Cut(err.Error(), "\n")
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: at.Ptr()}}
}
