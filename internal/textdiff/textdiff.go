// Package textdiff prints the difference between two texts as a unified
// diff (Myers' algorithm), for imgbuild fmt -diff.
package textdiff

import (
	"fmt"
	"io"
	"strings"
)

// Unified prints the change from a to b as a unified diff with
// three lines of context, naming both sides after the file.
func Unified(w io.Writer, name string, a, b []byte) {
	al, bl := splitLines(string(a)), splitLines(string(b))
	edits := diffLines(al, bl)
	fmt.Fprintf(w, "--- old/%s\n+++ new/%s\n", name, name)
	for _, h := range hunks(edits, 3) {
		fmt.Fprintf(w, "@@ -%s +%s @@\n", hunkRange(h.aStart, h.aLen), hunkRange(h.bStart, h.bLen))
		for _, e := range h.edits {
			fmt.Fprintf(w, "%c%s", e.op, e.line)
			if !strings.HasSuffix(e.line, "\n") {
				fmt.Fprint(w, "\n\\ No newline at end of file\n")
			}
		}
	}
}

func hunkRange(start, n int) string {
	if n == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

// splitLines splits s after each newline; the last line may lack one.
func splitLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

type edit struct {
	op   byte // ' ' same, '-' only in a, '+' only in b
	line string
}

// diffLines computes a shortest edit script from a to b with Myers'
// algorithm. Each step keeps only the part of the frontier it reached, so
// memory grows with the square of the number of differences, not with the
// size of the files.
func diffLines(a, b []string) []edit {
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
				return backtrack(trace, a, b)
			}
		}
	}
	return nil // unreachable: d = n+m always reaches the end
}

func backtrack(trace [][]int, a, b []string) []edit {
	x, y := len(a), len(b)
	var out []edit
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
			out = append(out, edit{' ', a[x-1]})
			x--
			y--
		}
		if d > 0 {
			if x == prevX {
				out = append(out, edit{'+', b[y-1]})
			} else {
				out = append(out, edit{'-', a[x-1]})
			}
		}
		x, y = prevX, prevY
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

type hunk struct {
	aStart, aLen, bStart, bLen int
	edits                      []edit
}

// hunks groups edits into unified-diff hunks with ctx lines of context,
// merging changes whose context would overlap.
func hunks(edits []edit, ctx int) []hunk {
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
	var out []hunk
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
		h := hunk{
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
