package hcldecode

import (
	"fmt"

	"github.com/agext/levenshtein"
)

// Suggest returns ` Did you mean "x"?` for the known name closest to
// given, or "" when none is close enough to be a likely typo.
func Suggest(given string, known []string) string {
	best, bestDist := "", 4 // more than 3 edits away is not a typo
	for _, k := range known {
		if d := levenshtein.Distance(given, k, nil); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}
