package dockerengine

import (
	"context"
	"fmt"
	"time"

	"github.com/imgbuild/imgbuild/internal/ledger"
)

// Cleaner is the registration of build containers with the ledger (made
// by builders/docker, which records them): cleanup removes them from the
// engine of DOCKER_HOST. Kept containers stay tracked, so that cleanup
// leaves them unless --include-kept.
var Cleaner = ledger.Cleaner{
	Name:      "docker build containers",
	Kinds:     []string{KindContainer},
	TrackKept: []string{KindContainer},
	Find:      findForCleanup,
}

// engineQueryTimeout bounds each question cleanup asks the engine.
var engineQueryTimeout = 30 * time.Second

// findForCleanup finds the build containers that killed builds left: the
// ledger's outstanding ones the engine still has and, with All, every
// container named as imgbuild names them. The engine is only asked when
// there is something to ask about.
func findForCleanup(ctx context.Context, q ledger.Query) ([]ledger.Leftover, error) {
	recorded := 0
	for _, e := range ledger.Outstanding(q.Entries, q.Run) {
		if e.Kind == KindContainer {
			recorded++
		}
	}
	var kept []ledger.Entry
	for _, e := range ledger.KeptResources(q.Entries, q.Run) {
		if e.Kind == KindContainer {
			kept = append(kept, e)
		}
	}
	if recorded == 0 && !q.All && !(q.IncludeKept && len(kept) > 0) {
		return nil, nil
	}
	cli, err := Connect(ctx)
	if err != nil {
		// Not a reason to leave other resources behind: say it and go on.
		if recorded > 0 {
			fmt.Fprintf(q.Notes, "note: %d build container(s) in the ledger were not checked: %v\n", recorded, err)
		}
		return nil, nil
	}
	// A stalled engine must not hang cleanup without a word.
	qctx, cancel := context.WithTimeout(ctx, engineQueryTimeout)
	defer cancel()
	found, elsewhere, err := FindLeftovers(qctx, cli, q.Ledger, q.Entries, q.Run, q.Skip)
	if err == nil && q.All && q.Run == "" {
		var keep []string
		if !q.IncludeKept {
			for _, e := range kept {
				keep = append(keep, e.ID)
			}
		}
		var named []Leftover
		named, err = NamedLeftovers(qctx, cli, found, keep)
		found = append(found, named...)
	}
	if err != nil {
		cli.Close()
		if qctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("the Docker engine at %s did not answer within %s; is it running?", cli.DaemonHost(), engineQueryTimeout)
		}
		return nil, err
	}
	if q.IncludeKept {
		seen := map[string]bool{}
		for _, f := range found {
			seen[f.Name] = true
		}
		for _, e := range kept {
			if !seen[e.ID] && (e.Endpoint == "" || e.Endpoint == cli.DaemonHost()) {
				found = append(found, Leftover{Name: e.ID, Run: e.Run, Build: e.Build + ", kept"})
			}
		}
	} else if len(kept) > 0 {
		fmt.Fprintf(q.Notes, "note: %d build container(s) kept on purpose (-on-error=abort) are left; --include-kept removes them too\n", len(kept))
	}
	for _, e := range elsewhere {
		fmt.Fprintf(q.Notes, "note: container %s was made on the engine at %s; set DOCKER_HOST to it to clean it up\n", e.ID, e.Endpoint)
	}
	out := make([]ledger.Leftover, 0, len(found))
	for _, lo := range found {
		out = append(out, ledger.Leftover{What: lo.String(), Remove: func(ctx context.Context) error {
			rctx, cancel := context.WithTimeout(ctx, engineQueryTimeout)
			defer cancel()
			return RemoveLeftover(rctx, cli, q.Ledger, lo)
		}})
	}
	// The client stays open for the removals; the process ends soon after.
	return out, nil
}
