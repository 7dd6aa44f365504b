package cli

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// rawControls lists the bytes of s that a terminal would act on: control
// characters other than newline and tab, and anything that is not UTF-8.
func rawControls(s string) []string {
	var bad []string
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			bad = append(bad, fmt.Sprintf("invalid UTF-8 at %d", i))
		case (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e):
			bad = append(bad, fmt.Sprintf("%U at %d", r, i))
		}
	}
	return bad
}

func TestValidateOfRandomBytesShowsTheFirstFewErrorsEscapedAndCountsTheRest(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 8))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	dir := writeTemplate(t, map[string]string{"x.pkr.hcl": string(garbage)})
	code, _, errOut := run(t, "", "validate", dir)
	if code != 1 {
		t.Fatalf("exit %d; want 1", code)
	}
	if n := strings.Count(errOut, "Error: "); n != maxDiagnosticsPerFile {
		t.Errorf("%d errors printed; want the first %d", n, maxDiagnosticsPerFile)
	}
	more := "more errors in " + filepath.Join(dir, "x.pkr.hcl") + " were not shown"
	if !strings.Contains(errOut, more) {
		t.Errorf("stderr does not say %q", more)
	}
	// Five diagnostics with snippets cut to a window: a few KB, where
	// every diagnostic in full made 158 KB.
	if len(errOut) > 8<<10 {
		t.Errorf("stderr is %d bytes; want a few KB", len(errOut))
	}
	if bad := rawControls(errOut); len(bad) > 0 {
		t.Errorf("stderr has raw control characters or bytes: %v", bad)
	}
}

func TestDiagnosticSnippetsEscapeControlCharactersAndBidiOverrides(t *testing.T) {
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": "source \"cli-test\" \"a\" {\n" +
		"  image  = \"x\"\n" +
		"  imagee = \"\x1b[2J\u202eevil\"\n" +
		"}\n" +
		"build {\n  sources = [\"source.cli-test.a\"]\n}\n"})
	code, _, errOut := run(t, "", "validate", dir)
	if code != 1 || !strings.Contains(errOut, "Unsupported argument") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if want := `  imagee = "\x1b[2J\u202eevil"`; !strings.Contains(errOut, want) {
		t.Errorf("the snippet does not show %q:\n%s", want, errOut)
	}
	if bad := rawControls(errOut); len(bad) > 0 {
		t.Errorf("stderr has raw control characters: %v", bad)
	}
}

func TestALongSourceLineIsCutToAWindowWithTheCaretUnderTheError(t *testing.T) {
	long := strings.Repeat("a", 5000)
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": "locals {\n  x = \"" + long + "${local.nope}\"\n}\n"})
	code, _, errOut := run(t, "", "validate", dir)
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	lines := strings.Split(errOut, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "    2: ") {
			continue
		}
		if len(l) > maxSnippetWidth+20 || !strings.HasPrefix(l, "    2: ...") || !strings.HasSuffix(l, `"`) {
			t.Fatalf("snippet line not cut to a window (%d bytes): %.200s", len(l), l)
		}
		caret := strings.Index(lines[i+1], "^")
		if at := strings.Index(l, ".nope"); caret != at {
			t.Errorf("caret at %d, the reference .nope at %d:\n%s\n%s", caret, at, l, lines[i+1])
		}
		return
	}
	t.Fatalf("no snippet of line 2:\n%s", errOut)
}

func TestDiagnosticsWithoutAFileAreCappedToo(t *testing.T) {
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": goodTemplate})
	args := []string{"validate", "-var", "image=x"}
	for i := 0; i < maxDiagnosticsPerFile+2; i++ {
		args = append(args, "-var", fmt.Sprintf("undeclared%d=1", i))
	}
	code, _, errOut := run(t, "", append(args, dir)...)
	if code != 1 || strings.Count(errOut, "Undefined -var variable") != maxDiagnosticsPerFile ||
		!strings.Contains(errOut, "... and 2 more errors without a file were not shown") {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
}
