package cli

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcled"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// writeDiagnostics prints diagnostics as Packer and Terraform do, with the
// column added and a caret under it:
//
//	Error: Unsupported argument
//
//	  on main.pkr.hcl line 3, column 3, in source "docker" "a":
//	   3:   imagee = "x"
//	        ^
//
//	An argument named "imagee" is not expected here. Did you mean "image"?
//
// Secrets are masked.
func writeDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	for _, d := range diags {
		var b bytes.Buffer
		severity := "Error"
		if d.Severity == hcl.DiagWarning {
			severity = "Warning"
		}
		fmt.Fprintf(&b, "%s: %s\n\n", severity, d.Summary)
		if d.Subject != nil {
			writeSubject(&b, files[d.Subject.Filename], *d.Subject)
		}
		if d.Detail != "" {
			fmt.Fprintf(&b, "%s\n\n", d.Detail)
		}
		_, _ = io.WriteString(w, secret.Mask(b.String()))
	}
}

// writeSubject prints where a diagnostic points, and the source lines of
// its range (at most three) with a caret under its start.
func writeSubject(b *bytes.Buffer, file *hcl.File, r hcl.Range) {
	in := ""
	if file != nil {
		if c := hcled.ContextString(file, r.Start.Byte); c != "" {
			in = ", in " + c
		}
	}
	fmt.Fprintf(b, "  on %s line %d, column %d%s:\n", r.Filename, r.Start.Line, r.Start.Column, in)
	if file == nil || len(file.Bytes) == 0 {
		b.WriteString("\n")
		return
	}
	lines := strings.Split(string(file.Bytes), "\n")
	last := r.End.Line
	if last < r.Start.Line {
		last = r.Start.Line
	}
	if last > r.Start.Line+2 {
		last = r.Start.Line + 2
	}
	for n := r.Start.Line; n <= last && n <= len(lines); n++ {
		line := strings.TrimRight(lines[n-1], "\r")
		fmt.Fprintf(b, "  %3d: %s\n", n, line)
		if n == r.Start.Line {
			fmt.Fprintf(b, "       %s^\n", caretIndent(line, r.Start.Column))
		}
	}
	b.WriteString("\n")
}

// caretIndent is the text that puts a caret under column col (1-based,
// in characters) of line: spaces, with the line's own tabs kept so the
// caret lines up however tabs are shown.
func caretIndent(line string, col int) string {
	var ind strings.Builder
	for i, r := range []rune(line) {
		if i >= col-1 {
			break
		}
		if r == '\t' {
			ind.WriteRune('\t')
		} else {
			ind.WriteRune(' ')
		}
	}
	return ind.String()
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
