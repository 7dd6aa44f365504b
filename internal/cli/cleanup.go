package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/ledger"
)

func init() { register(newCleanupCmd) }

func newCleanupCmd(s *Streams) *cobra.Command {
	var (
		run     string
		all     bool
		dryRun  bool
		regions []string
	)
	cmd := &cobra.Command{
		Use:   "cleanup [--run ID | --all] [--dry-run]",
		Short: "Remove the cloud resources that crashed or killed builds left behind",
		Long: "cleanup finds the temporary AWS resources (instances, key pairs, security\n" +
			"groups, unfinished AMIs and snapshots) that a build created but did not remove,\n" +
			"first from the resource ledger in the state directory, then by the run-UUID\n" +
			"tags imgbuild puts on them, and removes them, printing what it did.\n\n" +
			"Without --run or --all it removes the leftovers of the runs in this machine's\n" +
			"ledger whose imgbuild process is no longer running. --all also removes\n" +
			"resources tagged by runs the ledger does not know (builds on other machines\n" +
			"included). Credentials come from the usual AWS chain.",
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
			return runCleanup(ctx, s, run, all, dryRun, regions)
		},
	}
	cmd.Flags().StringVar(&run, "run", "", "remove only what the run with this UUID left (build.PackerRunUUID)")
	cmd.Flags().BoolVar(&all, "all", false, "remove the leftovers of every run, including runs that look alive")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be removed, remove nothing")
	cmd.Flags().StringSliceVar(&regions, "region", nil, "also search these regions by tag (default: the regions in the ledger and AWS_REGION)")
	return cmd
}

func runCleanup(ctx context.Context, s *Streams, run string, all, dryRun bool, regions []string) error {
	l, err := ledger.Open("")
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	entries, err := l.Read()
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	var ac awsclient.AccessConfig
	if r := ac.ResolvedRegion(); r != "" {
		regions = append(regions, r)
	}
	sw := &awsclient.Sweeper{Ledger: l, Regions: regions}
	var skip func(string) bool
	if run == "" && !all {
		// By default only runs this machine's ledger knows, and whose
		// imgbuild process is gone: a tagged resource of an unknown run
		// may belong to a build running elsewhere.
		known := map[string]bool{}
		for _, e := range entries {
			known[e.Run] = true
		}
		skip = func(r string) bool { return !known[r] || ledger.RunAlive(entries, r) }
	}
	found, err := sw.Find(ctx, run, skip)
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("finding leftovers: %w", err)}
	}
	if len(found) == 0 {
		fmt.Fprintln(s.Out, "Nothing to clean up.")
		return nil
	}
	if dryRun {
		for _, f := range found {
			fmt.Fprintf(s.Out, "would remove %s\n", f)
		}
		fmt.Fprintf(s.Out, "%d resource(s) would be removed (dry run: nothing was changed).\n", len(found))
		return nil
	}
	var errs []error
	removed := 0
	for _, f := range found {
		if err := sw.Remove(ctx, f); err != nil {
			fmt.Fprintf(s.Err, "failed to remove %s: %v\n", f, err)
			errs = append(errs, err)
			continue
		}
		removed++
		fmt.Fprintf(s.Out, "removed %s\n", f)
	}
	fmt.Fprintf(s.Out, "%d resource(s) removed.\n", removed)
	if err := l.Compact(); err != nil {
		fmt.Fprintf(s.Err, "warning: %v\n", err)
	}
	if len(errs) > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d resource(s) could not be removed; run imgbuild cleanup again, or remove them in the AWS console", len(errs))}
	}
	return nil
}
