package template

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

const invalidDir = "../../testdata/templates/invalid"

// invalidCase is a template in testdata/templates/invalid. Its header says
// what is expected:
//
//	# error: text the error's summary or detail contains
//	# var: name=value        (a -var; may repeat)
//	# var-file: FILE         (relative to the folder; may repeat)
//
// and the line the error must point at carries the comment "# <-- error"
// (in the template or in a var file); with no such comment the error must
// have no location.
type invalidCase struct {
	path     string
	want     string
	vars     []VarArg
	wantFile string
	wantLine int
}

func readInvalidCase(t *testing.T, path string) invalidCase {
	t.Helper()
	c := invalidCase{path: path}
	files := []string{path}
	for _, line := range readLines(t, path) {
		if !strings.HasPrefix(line, "# ") {
			break
		}
		key, val, _ := strings.Cut(strings.TrimPrefix(line, "# "), ": ")
		switch key {
		case "error":
			c.want = val
		case "var":
			c.vars = append(c.vars, VarArg{Assign: val})
		case "var-file":
			f := filepath.Join(filepath.Dir(path), val)
			c.vars = append(c.vars, VarArg{File: f})
			files = append(files, f)
		}
	}
	for _, f := range files {
		for i, line := range readLines(t, f) {
			if strings.Contains(line, "# <-- error") {
				c.wantFile, c.wantLine = f, i+1
			}
		}
	}
	if c.want == "" {
		t.Fatalf("%s has no '# error:' header", path)
	}
	return c
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}

// loadAndPlan runs what validate runs: Load, then Plans.
func loadAndPlan(path string, vars []VarArg) hcl.Diagnostics {
	tpl, diags := Load(context.Background(), LoadOptions{Path: path, Vars: vars})
	if diags.HasErrors() {
		return diags
	}
	_, d := tpl.Plans(nil, nil)
	return append(diags, d...)
}

func TestInvalidTemplatesReportTheExpectedErrorAtTheExpectedLine(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(invalidDir, "*.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 40 {
		t.Fatalf("only %d invalid templates; the suite needs at least 40", len(paths))
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".pkr.hcl")
		t.Run(name, func(t *testing.T) {
			c := readInvalidCase(t, path)
			diags := loadAndPlan(path, c.vars)
			if !diags.HasErrors() {
				t.Fatalf("no error; want one containing %q", c.want)
			}
			var found *hcl.Diagnostic
			for _, d := range diags {
				if d.Severity == hcl.DiagError && strings.Contains(d.Summary+": "+d.Detail, c.want) {
					found = d
					break
				}
			}
			if found == nil {
				t.Fatalf("no error contains %q; got:\n%s", c.want, diagsText(diags))
			}
			switch {
			case c.wantLine == 0 && found.Subject != nil && found.Subject.Filename != "" && !strings.HasPrefix(found.Subject.Filename, "<"):
				t.Errorf("error points at %s; want no location", found.Subject)
			case c.wantLine != 0 && found.Subject == nil:
				t.Errorf("error has no location; want %s line %d", c.wantFile, c.wantLine)
			case c.wantLine != 0 && (found.Subject.Start.Line != c.wantLine || filepath.Clean(found.Subject.Filename) != filepath.Clean(c.wantFile)):
				t.Errorf("error points at %s; want %s line %d", found.Subject, c.wantFile, c.wantLine)
			}
		})
	}
}

func diagsText(diags hcl.Diagnostics) string {
	var sb strings.Builder
	for _, d := range diags {
		sb.WriteString("  " + d.Error() + "\n")
	}
	return sb.String()
}
