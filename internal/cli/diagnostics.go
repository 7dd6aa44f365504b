package cli

import (
	"bytes"
	"io"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// writeDiagnostics prints diagnostics as Packer and Terraform do:
// "Error: summary", "on FILE line N:", the source lines, then the detail.
// Secrets are masked.
func writeDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	var buf bytes.Buffer
	dw := hcl.NewDiagnosticTextWriter(&buf, files, 78, false)
	for _, d := range diags {
		buf.Reset()
		_ = dw.WriteDiagnostic(d)
		_, _ = io.WriteString(w, secret.Mask(buf.String()))
	}
}

func dropUndeclaredWarnings(diags hcl.Diagnostics) hcl.Diagnostics {
	out := diags[:0:0]
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning && d.Summary == "Undefined variable" {
			continue
		}
		out = append(out, d)
	}
	return out
}
