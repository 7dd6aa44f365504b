package textdiff

import (
	"bytes"
	"strings"
	"testing"
)

func TestDiffIsAMinimalScriptBetweenBothSides(t *testing.T) {
	tests := []struct {
		a, b    string
		changes int
	}{
		{"", "", 0},
		{"a\n", "a\n", 0},
		{"", "a\nb\n", 2},
		{"a\nb\n", "", 2},
		{"a\nb\nc\n", "a\nc\n", 1},
		{"a\nb\nc\n", "a\nx\nc\n", 2},
		{"a\nb\nc\nd\n", "b\nc\nd\ne\n", 2},
		{"a\nb", "a\nb\n", 2},
		{"x\ny\nz\n", "z\ny\nx\n", 4},
	}
	for _, tc := range tests {
		edits := diffLines(splitLines(tc.a), splitLines(tc.b))
		a, b := applyEdits(edits)
		if a != tc.a || b != tc.b {
			t.Errorf("diff(%q, %q) rebuilds %q, %q", tc.a, tc.b, a, b)
		}
		n := 0
		for _, e := range edits {
			if e.op != ' ' {
				n++
			}
		}
		if n != tc.changes {
			t.Errorf("diff(%q, %q) has %d changes, want %d", tc.a, tc.b, n, tc.changes)
		}
	}
}

func TestDistantChangesBecomeSeparateHunks(t *testing.T) {
	var a, b strings.Builder
	for i := 1; i <= 20; i++ {
		line := strings.Repeat("x", i) + "\n"
		a.WriteString(line)
		if i == 2 || i == 18 {
			line = "changed\n"
		}
		b.WriteString(line)
	}
	var out bytes.Buffer
	Unified(&out, "f", []byte(a.String()), []byte(b.String()))
	got := out.String()
	for _, want := range []string{"@@ -1,5 +1,5 @@\n", "@@ -15,6 +15,6 @@\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks hunk header %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "@@ -") != 2 {
		t.Errorf("want 2 hunks:\n%s", got)
	}
}

// applyEdits rebuilds both sides from an edit script.
func applyEdits(edits []edit) (a, b string) {
	var as, bs strings.Builder
	for _, e := range edits {
		if e.op != '+' {
			as.WriteString(e.line)
		}
		if e.op != '-' {
			bs.WriteString(e.line)
		}
	}
	return as.String(), bs.String()
}
