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

// maxDiagnosticsPerFile is how many diagnostics are printed for one file
// (and for those without a file); the rest are counted. Garbage input
// gives hundreds, and the first few are the ones to fix.
const maxDiagnosticsPerFile = 5

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
// at most maxDiagnosticsPerFile per file, then how many more there are.
// Secrets are masked, and control characters escaped (see printable).
func writeDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	shown := map[string]int{}
	var hidden []string // file names, in the order their first hidden diagnostic came
	hiddenErrs, hiddenWarns := map[string]int{}, map[string]int{}
	for _, d := range diags {
		file := ""
		if d.Subject != nil {
			file = d.Subject.Filename
		}
		if shown[file] >= maxDiagnosticsPerFile {
			if hiddenErrs[file]+hiddenWarns[file] == 0 {
				hidden = append(hidden, file)
			}
			if d.Severity == hcl.DiagWarning {
				hiddenWarns[file]++
			} else {
				hiddenErrs[file]++
			}
			continue
		}
		shown[file]++
		var b bytes.Buffer
		severity := "Error"
		if d.Severity == hcl.DiagWarning {
			severity = "Warning"
		}
		fmt.Fprintf(&b, "%s: %s\n\n", severity, cleanText(d.Summary))
		if d.Subject != nil {
			writeSubject(&b, files[d.Subject.Filename], *d.Subject)
		}
		if d.Detail != "" {
			fmt.Fprintf(&b, "%s\n\n", cleanText(d.Detail))
		}
		_, _ = io.WriteString(w, secret.MaskTemplateText(b.String()))
	}
	for _, file := range hidden {
		where := "without a file"
		if file != "" {
			where = "in " + cleanText(file)
		}
		_, _ = fmt.Fprintf(w, "... and %s %s were not shown; fix the ones above first.\n\n",
			countOf(hiddenErrs[file], hiddenWarns[file]), where)
	}
}

// countOf says "3 more errors", "1 more warning" or "3 more errors and
// 1 more warning".
func countOf(errs, warns int) string {
	plural := func(n int, what string) string {
		if n == 1 {
			return "1 " + what
		}
		return fmt.Sprintf("%d %ss", n, what)
	}
	switch {
	case warns == 0:
		return plural(errs, "more error")
	case errs == 0:
		return plural(warns, "more warning")
	}
	return plural(errs, "more error") + " and " + plural(warns, "more warning")
}

// cleanText is s with secrets masked, then made safe for a terminal. The
// mask comes first: an escaped secret would no longer match it.
func cleanText(s string) string { return printable(secret.MaskTemplateText(s), true) }

// writeSubject prints where a diagnostic points, and the source lines of
// its range (at most three) with a caret under its start.
func writeSubject(b *bytes.Buffer, file *hcl.File, r hcl.Range) {
	in := ""
	if file != nil {
		if c := hcled.ContextString(file, r.Start.Byte); c != "" {
			in = ", in " + c
		}
	}
	fmt.Fprintf(b, "  on %s line %d, column %d%s:\n", printable(r.Filename, false), r.Start.Line, r.Start.Column, printable(in, false))
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
	for n := max(r.Start.Line, 1); n <= last && n <= len(lines); n++ {
		col := 0
		if n == r.Start.Line {
			col = r.Start.Column
		}
		// Masked before it is cut to a window, so that no part of a
		// secret survives the cut.
		text, indent := snippetLine(secret.MaskTemplateText(strings.TrimRight(lines[n-1], "\r")), col)
		fmt.Fprintf(b, "  %3d: %s\n", n, text)
		if n == r.Start.Line {
			fmt.Fprintf(b, "       %s^\n", indent)
		}
	}
	b.WriteString("\n")
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
