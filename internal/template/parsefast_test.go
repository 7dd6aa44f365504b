package template

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// cutSmallFiles makes parseHCL cut even tiny inputs into pieces of a few
// lines, so tests and the fuzzer check the cutting.
func cutSmallFiles(tb testing.TB) {
	savedMin, savedSize := parallelParseMin, parsePieceSize
	parallelParseMin, parsePieceSize = 0, 16
	tb.Cleanup(func() { parallelParseMin, parsePieceSize = savedMin, savedSize })
}

func TestCutParseMatchesWholeParse(t *testing.T) {
	cutSmallFiles(t)
	block := "source \"test-builder\" \"a%d\" {\n  image = \"x\"\n}\n"
	var many strings.Builder
	for i := 0; i < 50; i++ {
		many.WriteString(strings.Replace(block, "%d", strings.Repeat("x", i), 1))
	}
	for name, src := range map[string]string{
		"many blocks": many.String(),
		// A cut inside the heredoc leaves a piece unclosed: whole parse.
		"heredoc with a brace line": "locals {\n  x = <<EOT\n}\nsource \"a\" \"b\" {\nEOT\n}\n" + many.String(),
		// A cut inside a comment: whole parse.
		"comment with a brace line": "/*\n}\nfoo {\n*/\n" + many.String(),
		// Cut alone, the second piece would define b; whole, it is a comment.
		"comment hiding an attribute": "/*\n}\nb = 1 /* */\n" + many.String(),
		"syntax error":                many.String() + "source {\n",
	} {
		t.Run(name, func(t *testing.T) { checkCutParseMatchesWholeParse(t, []byte(src)) })
	}
	// The pieces keep their true positions.
	f, diags := parseHCL([]byte(many.String()), "m.pkr.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	last := f.Body.(*hclsyntax.Body).Blocks[49]
	if last.DefRange().Start.Line != 148 {
		t.Errorf("last block starts at %s; want line 148", last.DefRange())
	}
	if _, ok := f.Nav.(multiNav); !ok {
		t.Errorf("the file was not cut (Nav %T)", f.Nav)
	}
}
