package ledger

import (
	"context"
	"io"
	"slices"
	"sort"
	"sync"
)

// The ledger and `imgbuild cleanup` know no resource kind themselves: the
// plugin packages that record resources register, in their init, the kinds
// they write and how to find and remove what killed builds left of them.

// Cleaner is one plugin's registration.
type Cleaner struct {
	// Name orders cleaners (cleanup runs them by name) and says what they
	// clean in cleanup's help, e.g. "build containers".
	Name string
	// Kinds are the Entry kinds the plugin records.
	Kinds []string
	// TrackKept are the kinds whose Kept resources stay in the ledger
	// (kept for inspection: cleanup --include-kept may remove them); a
	// kept resource of another kind is a build's result and is forgotten.
	TrackKept []string
	// Find returns what the runs q selects left of Kinds.
	Find func(ctx context.Context, q Query) ([]Leftover, error)
}

// Query is what cleanup asks a Cleaner for.
type Query struct {
	Ledger  *Ledger
	Entries []Entry // the ledger's entries, read once
	// Run limits the search to one run ("" for every run).
	Run string
	// All: also what runs the ledger does not know left (found by tag or
	// name), and runs that look alive.
	All bool
	// IncludeKept: also resources builds kept on purpose.
	IncludeKept bool
	// Regions to search besides those the ledger names.
	Regions []string
	// Skip, when set, excludes runs (builds still in progress, runs of
	// other machines).
	Skip func(run string) bool
	// Notes receives what a cleaner leaves and why, one line each.
	Notes io.Writer
}

// Leftover is one resource a build left, and how to remove it (which also
// marks it deleted in the ledger).
type Leftover struct {
	What   string
	Remove func(context.Context) error
}

var (
	cleanersMu sync.Mutex
	cleaners   = map[string]Cleaner{}
)

// Register adds a plugin's kinds. A second registration under one name
// replaces the first.
func Register(c Cleaner) {
	cleanersMu.Lock()
	defer cleanersMu.Unlock()
	cleaners[c.Name] = c
}

// Cleaners returns the registrations, ordered by name.
func Cleaners() []Cleaner {
	cleanersMu.Lock()
	defer cleanersMu.Unlock()
	out := make([]Cleaner, 0, len(cleaners))
	for _, c := range cleaners {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// cleanerOf returns the registration that records kind.
func cleanerOf(kind string) (Cleaner, bool) {
	for _, c := range Cleaners() {
		if slices.Contains(c.Kinds, kind) {
			return c, true
		}
	}
	return Cleaner{}, false
}

// KnownKind reports whether a registered plugin records kind.
func KnownKind(kind string) bool {
	_, ok := cleanerOf(kind)
	return ok
}

// forgetsKept reports whether a kept resource of kind is a result that the
// ledger need not track. Unknown kinds (an old ledger, a plugin this
// imgbuild lacks) are tracked: the ledger never drops what it cannot
// judge.
func forgetsKept(kind string) bool {
	c, ok := cleanerOf(kind)
	return ok && !slices.Contains(c.TrackKept, kind)
}
