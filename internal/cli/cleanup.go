package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/ledger"
)

func init() { register(newCleanupCmd) }

func newCleanupCmd(s *Streams) *cobra.Command {
	var (
		run         string
		all         bool
		dryRun      bool
		includeKept bool
		regions     []string
	)
	cmd := &cobra.Command{
		Use:   "cleanup [--run ID | --all] [--dry-run]",
		Short: "Remove what crashed or killed builds left behind",
		Long: "cleanup finds the temporary resources that a build created but did not\n" +
			"remove (it was killed, or the machine went down), first from the resource\n" +
			"ledger in the state directory, then by the tags or names imgbuild gives them,\n" +
			"and removes them, printing what it did. It knows:\n" + cleanerList() + "\n" +
			"Without --run or --all it removes the leftovers of the runs in this machine's\n" +
			"ledger whose imgbuild process is no longer running. --all also removes what\n" +
			"runs the ledger does not know left (builds on other machines included).\n" +
			"A ledger entry of a kind no plugin of this imgbuild records is reported and\n" +
			"left in the ledger.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if run != "" && all {
				return &ExitError{Code: 1, Err: errors.New("--run and --all cannot be used together: choose one")}
			}
			parent := cmd.Context()
			if parent == nil {
				parent = context.Background()
			}
			ctx, stop := signal.NotifyContext(parent, os.Interrupt)
			defer stop()
			return runCleanup(ctx, s, cleanupOptions{run: run, all: all, dryRun: dryRun, includeKept: includeKept, regions: regions})
		},
	}
	cmd.Flags().StringVar(&run, "run", "", "remove only what the run with this UUID left (build.PackerRunUUID)")
	cmd.Flags().BoolVar(&all, "all", false, "remove the leftovers of every run, including runs that look alive")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be removed, remove nothing")
	cmd.Flags().BoolVar(&includeKept, "include-kept", false, "also remove what builds kept on purpose (-on-error=abort)")
	cmd.Flags().StringSliceVar(&regions, "region", nil, "also search these cloud regions by tag (default: the regions in the ledger and the environment's)")
	return cmd
}

// cleanerList is one indented line per registered kind of resource.
func cleanerList() string {
	var b strings.Builder
	for _, c := range ledger.Cleaners() {
		fmt.Fprintf(&b, "  - %s\n", c.Name)
	}
	return b.String()
}

// cleanupOptions are the cleanup command's flags.
type cleanupOptions struct {
	run                      string
	all, dryRun, includeKept bool
	regions                  []string
}

func runCleanup(ctx context.Context, s *Streams, o cleanupOptions) error {
	l, err := ledger.Open("")
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	entries, err := l.Read()
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	var skip func(string) bool
	if o.run == "" && !o.all {
		// By default only runs this machine's ledger knows, and whose
		// imgbuild process is gone: a tagged resource of an unknown run
		// may belong to a build running elsewhere.
		known := map[string]bool{}
		for _, e := range entries {
			known[e.Run] = true
		}
		skip = func(r string) bool { return !known[r] || ledger.RunAlive(entries, r) }
	}
	q := ledger.Query{Ledger: l, Entries: entries, Run: o.run, All: o.all, IncludeKept: o.includeKept,
		Regions: o.regions, Skip: skip, Notes: s.Err}
	var (
		found []ledger.Leftover
		errs  []error
	)
	for _, c := range ledger.Cleaners() {
		f, err := c.Find(ctx, q)
		if err != nil {
			// The other kinds are still cleaned up.
			fmt.Fprintf(s.Err, "failed to look for leftover %s: %v\n", c.Name, err)
			errs = append(errs, err)
			continue
		}
		found = append(found, f...)
	}
	reportUnknownKinds(s, l, entries, o.run, skip)
	if len(found) == 0 && len(errs) == 0 {
		fmt.Fprintln(s.Out, "Nothing to clean up.")
		return nil
	}
	if o.dryRun {
		for _, f := range found {
			fmt.Fprintf(s.Out, "would remove %s\n", f.What)
		}
		fmt.Fprintf(s.Out, "%d resource(s) would be removed (dry run: nothing was changed).\n", len(found))
		if len(errs) > 0 {
			return &ExitError{Code: 1, Err: fmt.Errorf("%d kind(s) of resource could not be searched", len(errs))}
		}
		return nil
	}
	failed := 0
	removed := 0
	for _, f := range found {
		if err := f.Remove(ctx); err != nil {
			fmt.Fprintf(s.Err, "failed to remove %s: %v\n", f.What, err)
			failed++
			continue
		}
		removed++
		fmt.Fprintf(s.Out, "removed %s\n", f.What)
	}
	fmt.Fprintf(s.Out, "%d resource(s) removed.\n", removed)
	if err := l.Compact(); err != nil {
		fmt.Fprintf(s.Err, "warning: %v\n", err)
	}
	switch {
	case failed > 0:
		return &ExitError{Code: 1, Err: fmt.Errorf("%d resource(s) could not be removed; run imgbuild cleanup again, or remove them by hand", failed)}
	case len(errs) > 0:
		return &ExitError{Code: 1, Err: fmt.Errorf("%d kind(s) of resource could not be searched (see above); run imgbuild cleanup again", len(errs))}
	}
	return nil
}

// reportUnknownKinds names the outstanding entries of kinds no registered
// plugin records (a ledger written by another imgbuild): they cannot be
// removed here, and the ledger keeps them.
func reportUnknownKinds(s *Streams, l *ledger.Ledger, entries []ledger.Entry, run string, skip func(string) bool) {
	for _, e := range ledger.Outstanding(entries, run) {
		if ledger.KnownKind(e.Kind) || (skip != nil && skip(e.Run)) {
			continue
		}
		where := ""
		if e.Region != "" {
			where = " in " + e.Region
		}
		fmt.Fprintf(s.Err, "note: left %s %s%s (run %s): no plugin of this imgbuild records resources of kind %q; it stays in the ledger %s\n",
			e.Kind, e.ID, where, e.Run, e.Kind, l.Path())
	}
}
