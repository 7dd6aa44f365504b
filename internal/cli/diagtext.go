package cli

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// printable escapes what a terminal would act on rather than show: C0 and
// C1 control characters (ESC starts colour and cursor sequences), DEL,
// bytes that are not UTF-8 (0x9b is a CSI on 8-bit terminals) and the
// bidirectional overrides that make text read differently from how it
// runs. Tabs stay, and so do newlines when keepNewlines.
func printable(s string, keepNewlines bool) string {
	var b strings.Builder
	for _, c := range cells(s, keepNewlines) {
		b.WriteString(c)
	}
	return b.String()
}

// cells splits s into what is printed for each character: the character
// itself or its escape.
func cells(s string, keepNewlines bool) []string {
	out := make([]string, 0, len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			out = append(out, fmt.Sprintf(`\x%02x`, s[i]))
		case r == '\t', r == '\n' && keepNewlines:
			out = append(out, string(r))
		case r < 0x20 || r == 0x7f:
			out = append(out, fmt.Sprintf(`\x%02x`, r))
		case r >= 0x80 && r <= 0x9f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			out = append(out, fmt.Sprintf(`\u%04x`, r))
		default:
			out = append(out, s[i:i+size])
		}
		i += size
	}
	return out
}

// maxSnippetWidth is how much of a source line a diagnostic shows: a
// minified or garbage file can have one line of megabytes.
const maxSnippetWidth = 120

// snippetLine returns the printable text of a source line and, for the
// line a diagnostic starts on (col > 0, 1-based in characters), the
// indent that puts a caret under col. A line wider than maxSnippetWidth
// is cut to a window around col, marked with "...".
func snippetLine(line string, col int) (text, caretIndent string) {
	cs := cells(line, false)
	at := col - 1
	if at > len(cs) {
		at = len(cs)
	}
	if at < 0 {
		at = 0
	}
	start, end := 0, len(cs)
	if width(cs) > maxSnippetWidth {
		start = max(0, at-maxSnippetWidth/3)
		end = start
		for w := 0; end < len(cs) && w+len(cs[end]) <= maxSnippetWidth; end++ {
			w += len(cs[end])
		}
	}
	var t, ind strings.Builder
	if start > 0 {
		t.WriteString("...")
		ind.WriteString("   ")
	}
	for i := start; i < end; i++ {
		t.WriteString(cs[i])
		if i >= at {
			continue
		}
		// Spaces under the text, but the line's own tabs kept, so the
		// caret lines up however tabs are shown.
		if cs[i] == "\t" {
			ind.WriteString("\t")
		} else {
			ind.WriteString(strings.Repeat(" ", utf8.RuneCountInString(cs[i])))
		}
	}
	if end < len(cs) {
		t.WriteString("...")
	}
	return t.String(), ind.String()
}

func width(cs []string) int {
	n := 0
	for _, c := range cs {
		n += len(c)
	}
	return n
}
