package cli

import (
	"strings"
	"testing"
)

// --older-than 0s is a duration like any other (every checkpoint made
// until now); only a missing or negative one is refused (issue 14, 9).
func TestCachePruneTakesZeroAsADuration(t *testing.T) {
	t.Setenv("IMGBUILD_CACHE_DIR", t.TempDir())
	if code, out, errOut := run(t, "", "cache", "prune", "--older-than", "0s"); code != 0 || !strings.Contains(out, "0 checkpoints removed") {
		t.Errorf("--older-than 0s: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{{"cache", "prune"}, {"cache", "prune", "--older-than", "-1h"}, {"cache", "prune", "--all", "--older-than", "1h"}} {
		if code, _, errOut := run(t, "", args...); code != 1 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}
