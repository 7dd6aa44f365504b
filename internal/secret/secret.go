// Package secret keeps the set of values that must never be shown:
// sensitive variables, passwords, private keys. Output and logs pass
// through Mask (or a Writer) before they reach the user.
//
// Values come in two kinds, masked in different places:
//   - Add: secrets a plugin holds (an ssh_password, a registry password,
//     a generated private key). They are masked in everything a build
//     prints, logs or writes (command output, UI lines, machine-readable
//     rows, manifests), but not in text that quotes the template itself
//     (diagnostics, inspect): there the user wrote them, and a password
//     such as "ubuntu" would otherwise garble file names, block labels and
//     source lines.
//   - AddSensitive: values the template declared sensitive (sensitive
//     variables and locals, every value computed from them, secrets read
//     from a secret store). They are masked everywhere, diagnostics
//     included, as Packer masks sensitive variables in all of its output.
package secret

import (
	"sort"
	"strings"
	"sync"
)

const mask = "<sensitive>"

// set is a group of secrets and the replacer that masks them.
type set struct {
	values   map[string]struct{}
	replacer *strings.Replacer
}

// add puts vals in s.
func (s *set) add(vals []string) {
	changed := false
	put := func(v string) {
		if _, ok := s.values[v]; !ok {
			s.values[v] = struct{}{}
			changed = true
		}
	}
	for _, v := range vals {
		if len(v) < 3 {
			continue
		}
		put(v)
		// Multi-line secrets (private keys) are also masked line by line,
		// since output is usually handled a line at a time.
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); len(line) >= 8 {
				put(line)
			}
		}
	}
	if changed {
		s.rebuild()
	}
}

func (s *set) rebuild() {
	all := make([]string, 0, len(s.values))
	for v := range s.values {
		all = append(all, v)
	}
	// Longest first, so a secret that contains another is masked whole.
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	pairs := make([]string, 0, 2*len(all))
	for _, v := range all {
		pairs = append(pairs, v, mask)
	}
	s.replacer = strings.NewReplacer(pairs...)
}

var (
	mu        sync.RWMutex
	every     = set{values: map[string]struct{}{}} // Add and AddSensitive
	sensitive = set{values: map[string]struct{}{}} // AddSensitive only
)

// Add registers secrets a plugin holds: masked in everything the build
// prints, logs or writes, not in diagnostics that quote the template.
// Empty and very short values are ignored: masking "a" would garble all
// output and protect nothing.
func Add(vals ...string) {
	mu.Lock()
	defer mu.Unlock()
	every.add(vals)
}

// AddSensitive registers values the template declared sensitive, or that
// were computed from such values: masked everywhere, diagnostics included.
func AddSensitive(vals ...string) {
	mu.Lock()
	defer mu.Unlock()
	every.add(vals)
	sensitive.add(vals)
}

// HasSensitive reports whether any value was registered with AddSensitive:
// whether the templates loaded so far hold a sensitive value at all.
func HasSensitive() bool {
	mu.RLock()
	defer mu.RUnlock()
	return len(sensitive.values) > 0
}

// Mask returns s with every registered secret replaced by "<sensitive>".
// Everything a build prints, logs or writes passes through it.
func Mask(s string) string {
	mu.RLock()
	r := every.replacer
	mu.RUnlock()
	if r == nil {
		return s
	}
	return r.Replace(s)
}

// MaskTemplateText masks text that quotes the template (a diagnostic's
// source lines, file names and block labels; inspect): only values the
// template declared sensitive are replaced, as in Packer. What a plugin
// registered with Add stays as the user wrote it.
func MaskTemplateText(s string) string {
	mu.RLock()
	r := sensitive.replacer
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
	every = set{values: map[string]struct{}{}}
	sensitive = set{values: map[string]struct{}{}}
}
