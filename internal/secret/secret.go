// Package secret keeps the set of values that must never be shown:
// sensitive variables, passwords, private keys. Output and logs pass
// through Mask (or a Writer) before they reach the user.
package secret

import (
	"sort"
	"strings"
	"sync"
)

const mask = "<sensitive>"

var (
	mu       sync.RWMutex
	values   = map[string]struct{}{}
	replacer *strings.Replacer
)

// Add registers values to be masked. Empty and very short values are
// ignored: masking "a" would garble all output and protect nothing.
func Add(vals ...string) {
	mu.Lock()
	defer mu.Unlock()
	changed := false
	for _, v := range vals {
		if len(v) < 3 {
			continue
		}
		if _, ok := values[v]; !ok {
			values[v] = struct{}{}
			changed = true
		}
		// Multi-line secrets (private keys) are also masked line by line,
		// since output is usually handled a line at a time.
		for _, line := range strings.Split(v, "\n") {
			line = strings.TrimSpace(line)
			if len(line) >= 8 {
				if _, ok := values[line]; !ok {
					values[line] = struct{}{}
					changed = true
				}
			}
		}
	}
	if changed {
		rebuild()
	}
}

func rebuild() {
	all := make([]string, 0, len(values))
	for v := range values {
		all = append(all, v)
	}
	// Longest first, so a secret that contains another is masked whole.
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	pairs := make([]string, 0, 2*len(all))
	for _, v := range all {
		pairs = append(pairs, v, mask)
	}
	replacer = strings.NewReplacer(pairs...)
}

// Mask returns s with every registered secret replaced by "<sensitive>".
func Mask(s string) string {
	mu.RLock()
	r := replacer
	mu.RUnlock()
	if r == nil {
		return s
	}
	return r.Replace(s)
}

// Reset forgets every secret (tests only).
func Reset() {
	mu.Lock()
	defer mu.Unlock()
	values = map[string]struct{}{}
	replacer = nil
}
