package template

import (
	"bytes"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// HCL's lexer and parser are the largest cost of loading a big template,
// and much of that is memory: the lexer appends every token (96 bytes) to
// one slice, which past a few hundred tokens grows by a quarter at a time,
// so a 100 KiB file allocates about five times its final token list, and
// on this kind of VM each fresh page costs microseconds to fault in. So a
// large file is cut into small pieces between top-level blocks (after a
// line that is just "}"), which are parsed on every core, each with its
// true start position, so ranges are the same as a whole-file parse gives.
//
// Why the result is always hcl's own: the first piece starts at the top
// level; hcl reports an error for anything left open at the end of input
// (a block, a bracket, a string, a heredoc, a comment), so a piece that
// parses cleanly also ends at the top level, and the next one starts
// there. When any piece has an error, or two pieces define the same
// attribute, the file is parsed whole instead, so diagnostics are exactly
// hcl's. FuzzTemplate checks this against whole-file parsing.
//
// Measured on the 200-build benchmark template (108 KiB): validate takes
// 27ms instead of 38ms on 2 cores, and 37ms instead of 42ms on one.
//
// parallelParseMin and parsePieceSize are variables so tests can cut small
// files into tiny pieces.
var (
	parallelParseMin = 32 << 10
	// parsePieceSize is the smallest piece a file is cut into: small
	// enough that each piece's token slice stays in the cheap doubling
	// regime.
	parsePieceSize = 1 << 10
)

func parseHCL(src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	// Line counting below matches hcl's only for valid UTF-8.
	if len(src) < parallelParseMin || !utf8.Valid(src) {
		return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	}
	cuts := blockCuts(src, max(len(src)/parsePieceSize, 1))
	if len(cuts) < 2 {
		return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	}
	files := make([]*hcl.File, len(cuts))
	failed := make([]bool, len(cuts))
	parallel(len(cuts), func(i int) {
		start, end := cuts[i].Byte, len(src)
		if i+1 < len(cuts) {
			end = cuts[i+1].Byte
		}
		f, diags := hclsyntax.ParseConfig(src[start:end], filename, cuts[i])
		files[i], failed[i] = f, diags.HasErrors() || f == nil
	})
	body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}}
	var navs []any
	for i, f := range files {
		if failed[i] {
			return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
		}
		b := f.Body.(*hclsyntax.Body)
		for name, a := range b.Attributes {
			if _, dup := body.Attributes[name]; dup {
				return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
			}
			body.Attributes[name] = a
		}
		body.Blocks = append(body.Blocks, b.Blocks...)
		navs = append(navs, f.Nav)
		if i == 0 {
			body.SrcRange = b.SrcRange
		}
		body.SrcRange.End = b.SrcRange.End
		body.EndRange = b.EndRange
	}
	return &hcl.File{Body: body, Bytes: src, Nav: multiNav(navs)}, nil
}

// blockCuts returns up to n start positions (the first is the file's
// start) at lines that follow a line holding only "}", spread evenly.
func blockCuts(src []byte, n int) []hcl.Pos {
	cuts := []hcl.Pos{hcl.InitialPos}
	step := len(src) / n
	next := step
	line, lineStart := 1, 0
	for i := 0; i < len(src); i++ {
		if src[i] != '\n' {
			continue
		}
		content := bytes.TrimRight(src[lineStart:i], " \t\r")
		line++
		lineStart = i + 1
		if i+1 >= next && len(content) == 1 && content[0] == '}' && i+1 < len(src) {
			cuts = append(cuts, hcl.Pos{Line: line, Column: 1, Byte: i + 1})
			next = i + 1 + step
		}
	}
	return cuts
}

// multiNav gives diagnostics their "in source ..." context from whichever
// piece holds the offset.
type multiNav []any

func (m multiNav) ContextString(offset int) string {
	type contextStringer interface{ ContextString(offset int) string }
	for _, n := range m {
		if cs, ok := n.(contextStringer); ok {
			if s := cs.ContextString(offset); s != "" {
				return s
			}
		}
	}
	return ""
}
