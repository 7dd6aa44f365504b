package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"
)

func init() { register(newFmtCmd) }

// Exit codes of fmt, as Packer's: 1 for errors (syntax, I/O), 3 when -check
// finds a file that is not formatted.
const fmtExitUnformatted = 3

// fmtSuffixes are the files fmt rewrites when it walks a directory.
var fmtSuffixes = []string{".pkr.hcl", ".pkrvars.hcl"}

type fmtOptions struct {
	check, diff, write, recursive bool
}

func newFmtCmd(s *Streams) *cobra.Command {
	var o fmtOptions
	cmd := &cobra.Command{
		Use:   "fmt [-check] [-diff] [-write=false] [-recursive] PATH...",
		Short: "Rewrite HCL2 templates and variable files in the canonical format",
		Long: "fmt rewrites *.pkr.hcl and *.pkrvars.hcl files in HCL's canonical format and\n" +
			"style, and prints the name of every file it changed. PATH is a file, a\n" +
			"directory (its *.pkr.hcl and *.pkrvars.hcl files; -recursive descends into\n" +
			"subdirectories) or - to format standard input to standard output. JSON\n" +
			"templates are left alone.\n\n" +
			"Exit status: 0 when every file is formatted (or was rewritten), 1 on an\n" +
			"error such as a syntax error, 3 with -check when a file needs formatting.",
		Example: "  imgbuild fmt .\n" +
			"  imgbuild fmt -check -recursive templates/\n" +
			"  imgbuild fmt -diff -write=false build.pkr.hcl\n" +
			"  cat build.pkr.hcl | imgbuild fmt -",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFmt(s, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.check, "check", false, "check that the input is formatted; list the files that are not and exit with status 3 (writes nothing)")
	f.BoolVar(&o.diff, "diff", false, "print a unified diff of every formatting change")
	f.BoolVar(&o.write, "write", true, "write the formatted result back to the files (-write=false prints it instead; off with -check)")
	f.BoolVar(&o.recursive, "recursive", false, "also format files in subdirectories")
	return cmd
}

func runFmt(s *Streams, o fmtOptions, paths []string) error {
	r := &fmtRun{s: s, o: o}
	for _, p := range paths {
		if p == "-" {
			r.stdin()
			continue
		}
		r.path(p)
	}
	switch {
	case r.failed:
		return exitCode(1)
	case o.check && r.unformatted:
		return exitCode(fmtExitUnformatted)
	}
	return nil
}

// fmtRun formats one invocation's inputs, reporting problems as it goes so
// that one bad file does not hide the others.
type fmtRun struct {
	s           *Streams
	o           fmtOptions
	failed      bool // an error was reported: exit 1
	unformatted bool // some input was not in canonical form
}

func (r *fmtRun) fail(format string, args ...any) {
	fmt.Fprintf(r.s.Err, "Error: "+format+"\n", args...)
	r.failed = true
}

func (r *fmtRun) path(p string) {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			r.fail("%s does not exist; give a template file, a directory or - for standard input", p)
			return
		}
		r.fail("reading %s: %s", p, err)
		return
	}
	if fi.IsDir() {
		r.dir(p)
		return
	}
	// A file named explicitly is formatted whatever its name, except JSON,
	// which Packer's fmt leaves alone.
	if strings.HasSuffix(p, ".json") {
		return
	}
	r.file(p, fi.Mode().Perm())
}

func (r *fmtRun) dir(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.fail("reading directory %s: %s", dir, err)
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if r.o.recursive {
				r.dir(p)
			}
			continue
		}
		if !fmtHasSuffix(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			r.fail("reading %s: %s", p, err)
			continue
		}
		r.file(p, info.Mode().Perm())
	}
}

func fmtHasSuffix(name string) bool {
	for _, s := range fmtSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

func (r *fmtRun) file(p string, perm os.FileMode) {
	src, err := os.ReadFile(p)
	if err != nil {
		r.fail("reading %s: %s", p, err)
		return
	}
	out, ok := r.format(p, src)
	if !ok {
		return
	}
	changed := !bytes.Equal(src, out)
	if changed {
		r.unformatted = true
	}
	switch {
	case r.o.check:
		if changed {
			fmt.Fprintln(r.s.Out, p)
		}
	case !r.o.write:
		// -write=false: the formatted text goes to stdout instead of the
		// file (after the diff, when one was asked for).
		if !r.o.diff {
			r.s.Out.Write(out)
		}
	case changed:
		if err := os.WriteFile(p, out, perm); err != nil {
			r.fail("writing %s: %s", p, err)
			return
		}
		fmt.Fprintln(r.s.Out, p)
	}
	if r.o.diff && changed {
		fmtUnifiedDiff(r.s.Out, p, src, out)
	}
}

func (r *fmtRun) stdin() {
	src, err := io.ReadAll(r.s.In)
	if err != nil {
		r.fail("reading standard input: %s", err)
		return
	}
	out, ok := r.format("<stdin>", src)
	if !ok {
		return
	}
	changed := !bytes.Equal(src, out)
	if changed {
		r.unformatted = true
	}
	switch {
	case r.o.diff:
		if changed {
			fmtUnifiedDiff(r.s.Out, "<stdin>", src, out)
		}
	case !r.o.check:
		r.s.Out.Write(out)
	}
}

// format returns src in canonical form, or reports its syntax errors.
// hclwrite formats whatever it is given, so the source is parsed first:
// formatting a file that does not parse would only hide the mistake.
func (r *fmtRun) format(name string, src []byte) ([]byte, bool) {
	file, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		fmtWriteDiagnostics(r.s.Err, diags, map[string]*hcl.File{name: file})
		r.failed = true
		return nil, false
	}
	return hclwrite.Format(src), true
}

// fmtWriteDiagnostics prints diagnostics the way Packer and Terraform do, with
// the file, line and column and the source line pointed at.
func fmtWriteDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File) {
	for _, d := range diags {
		sev := "Error"
		if d.Severity == hcl.DiagWarning {
			sev = "Warning"
		}
		fmt.Fprintf(w, "%s: %s\n\n", sev, d.Summary)
		if d.Subject != nil {
			rng := *d.Subject
			fmt.Fprintf(w, "  on %s:%d:%d:\n", rng.Filename, rng.Start.Line, rng.Start.Column)
			if f := files[rng.Filename]; f != nil {
				if line, ok := fmtSourceLine(f.Bytes, rng.Start.Line); ok {
					fmt.Fprintf(w, "  %4d: %s\n", rng.Start.Line, line)
					fmt.Fprintf(w, "  %s^\n", strings.Repeat(" ", 6+fmtCaretOffset(line, rng.Start.Column)))
				}
			}
			fmt.Fprintln(w)
		}
		if d.Detail != "" {
			fmt.Fprintf(w, "%s\n\n", d.Detail)
		}
	}
}

func fmtSourceLine(src []byte, n int) (string, bool) {
	lines := strings.Split(string(src), "\n")
	if n < 1 || n > len(lines) {
		return "", false
	}
	return strings.TrimRight(lines[n-1], "\r"), true
}

// fmtCaretOffset is the display width of the line before column col (1-based,
// counted in characters), keeping tabs so the caret lines up.
func fmtCaretOffset(line string, col int) int {
	n := 0
	for i, r := range []rune(line) {
		if i >= col-1 {
			break
		}
		if r == '\t' {
			n += 8 - n%8
		} else {
			n++
		}
	}
	return n
}

// fmtUnifiedDiff prints the change from a to b as a unified diff with
// three lines of context, naming both sides after the file.
func fmtUnifiedDiff(w io.Writer, name string, a, b []byte) {
	al, bl := fmtSplitLines(string(a)), fmtSplitLines(string(b))
	edits := fmtDiffLines(al, bl)
	fmt.Fprintf(w, "--- old/%s\n+++ new/%s\n", name, name)
	for _, h := range fmtHunks(edits, 3) {
		fmt.Fprintf(w, "@@ -%s +%s @@\n", fmtHunkRange(h.aStart, h.aLen), fmtHunkRange(h.bStart, h.bLen))
		for _, e := range h.edits {
			fmt.Fprintf(w, "%c%s", e.op, e.line)
			if !strings.HasSuffix(e.line, "\n") {
				fmt.Fprint(w, "\n\\ No newline at end of file\n")
			}
		}
	}
}

func fmtHunkRange(start, n int) string {
	if n == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

// fmtSplitLines splits s after each newline; the last line may lack one.
func fmtSplitLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

type fmtEdit struct {
	op   byte // ' ' same, '-' only in a, '+' only in b
	line string
}

// fmtDiffLines computes a shortest edit script from a to b with Myers'
// algorithm. Each step keeps only the part of the frontier it reached, so
// memory grows with the square of the number of differences, not with the
// size of the files.
func fmtDiffLines(a, b []string) []fmtEdit {
	n, m := len(a), len(b)
	maxD := n + m
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int
	for d := 0; d <= maxD; d++ {
		// trace[d] holds v[k] for k in [-d-1, d+1] before step d.
		trace = append(trace, append([]int(nil), v[off-d-1:off+d+2]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				return fmtBacktrack(trace, a, b)
			}
		}
	}
	return nil // unreachable: d = n+m always reaches the end
}

func fmtBacktrack(trace [][]int, a, b []string) []fmtEdit {
	x, y := len(a), len(b)
	var out []fmtEdit
	for d := len(trace) - 1; d >= 0; d-- {
		vd := trace[d]
		at := func(k int) int { return vd[k+d+1] }
		k := x - y
		var prevK int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := at(prevK)
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			out = append(out, fmtEdit{' ', a[x-1]})
			x--
			y--
		}
		if d > 0 {
			if x == prevX {
				out = append(out, fmtEdit{'+', b[y-1]})
			} else {
				out = append(out, fmtEdit{'-', a[x-1]})
			}
		}
		x, y = prevX, prevY
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

type fmtHunk struct {
	aStart, aLen, bStart, bLen int
	edits                      []fmtEdit
}

// fmtHunks groups edits into unified-diff fmtHunks with ctx lines of context,
// merging changes whose context would overlap.
func fmtHunks(edits []fmtEdit, ctx int) []fmtHunk {
	// aPos[i], bPos[i]: lines of a and b before edits[i].
	aPos := make([]int, len(edits)+1)
	bPos := make([]int, len(edits)+1)
	for i, e := range edits {
		aPos[i+1], bPos[i+1] = aPos[i], bPos[i]
		if e.op != '+' {
			aPos[i+1]++
		}
		if e.op != '-' {
			bPos[i+1]++
		}
	}
	var out []fmtHunk
	for i := 0; i < len(edits); {
		if edits[i].op == ' ' {
			i++
			continue
		}
		start := max(0, i-ctx)
		end := i
		for end < len(edits) {
			if edits[end].op != ' ' {
				end++
				continue
			}
			run := 0
			for end+run < len(edits) && edits[end+run].op == ' ' {
				run++
			}
			if end+run == len(edits) || run > 2*ctx {
				end += min(run, ctx)
				break
			}
			end += run
		}
		h := fmtHunk{
			aStart: aPos[start] + 1, aLen: aPos[end] - aPos[start],
			bStart: bPos[start] + 1, bLen: bPos[end] - bPos[start],
			edits: edits[start:end],
		}
		// An empty side is numbered by the line before it.
		if h.aLen == 0 {
			h.aStart--
		}
		if h.bLen == 0 {
			h.bStart--
		}
		out = append(out, h)
		i = end
	}
	return out
}
