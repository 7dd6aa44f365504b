package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/imgbuild/imgbuild/internal/ledger"
)

// KindOutputDir is the ledger kind of a qemu build's output_directory (ID
// its absolute path). A build killed outright (SIGKILL, power loss) leaves
// it, with a partial disk of gigabytes; `imgbuild cleanup` removes it.
// QEMU itself dies with imgbuild (the lifeline), so it needs no entry.
const KindOutputDir = "qemu-output-directory"

// outputDirCleaner registers KindOutputDir. A directory kept (the build's
// result, or -on-error=abort) is the user's and is not tracked.
var outputDirCleaner = ledger.Cleaner{
	Name:  "qemu output directories of killed builds",
	Kinds: []string{KindOutputDir},
	Find:  findOutputDirs,
}

// recordOutputDir writes the output directory's fate to the ledger.
// Without a ledger (no state directory) it does nothing: the ledger only
// serves `imgbuild cleanup` after a killed build.
func (st *state) recordOutputDir(action, dir string) error {
	if st.ledger == nil {
		return nil
	}
	host, _ := os.Hostname()
	err := st.ledger.Append(ledger.Entry{Run: st.env.RunUUID, Action: action, Kind: KindOutputDir,
		ID: absPath(dir), Build: st.env.Name, PID: os.Getpid(), Host: host})
	if err != nil {
		return fmt.Errorf("recording the output directory %s in the resource ledger: %w", dir, err)
	}
	return nil
}

// findOutputDirs returns the output directories of this machine that the
// runs q selects left, marking those already gone deleted.
func findOutputDirs(_ context.Context, q ledger.Query) ([]ledger.Leftover, error) {
	host, _ := os.Hostname()
	var out []ledger.Leftover
	for _, e := range ledger.Outstanding(q.Entries, q.Run) {
		if e.Kind != KindOutputDir || (q.Skip != nil && q.Skip(e.Run)) {
			continue
		}
		if e.Host != host {
			fmt.Fprintf(q.Notes, "note: qemu output directory %s was made on %s; run imgbuild cleanup there\n", e.ID, e.Host)
			continue
		}
		gone := ledger.Entry{Run: e.Run, Action: ledger.Deleted, Kind: e.Kind, ID: e.ID, Host: e.Host}
		if _, err := os.Lstat(e.ID); errors.Is(err, fs.ErrNotExist) {
			_ = q.Ledger.Append(gone)
			continue
		}
		out = append(out, ledger.Leftover{
			What: fmt.Sprintf("qemu output directory %s (build %s, run %s)", e.ID, e.Build, e.Run),
			Remove: func(context.Context) error {
				if err := os.RemoveAll(e.ID); err != nil {
					return err
				}
				return q.Ledger.Append(gone)
			},
		})
	}
	return out, nil
}
