package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
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
		Short: "Remove what crashed or killed builds left behind (AWS resources, docker containers)",
		Long: "cleanup finds the temporary AWS resources (instances, key pairs, security\n" +
			"groups, unfinished AMIs and snapshots) and the docker build containers that a\n" +
			"build created but did not remove (it was killed, or the machine went down),\n" +
			"first from the resource ledger in the state directory, then by the run-UUID\n" +
			"tags imgbuild puts on AWS resources, and removes them, printing what it did.\n\n" +
			"Without --run or --all it removes the leftovers of the runs in this machine's\n" +
			"ledger whose imgbuild process is no longer running. --all also removes\n" +
			"resources tagged by runs the ledger does not know (builds on other machines\n" +
			"included) and every container named imgbuild-*. Credentials come from the\n" +
			"usual AWS chain; containers are removed from the engine of DOCKER_HOST.",
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
	cmd.Flags().BoolVar(&includeKept, "include-kept", false, "also remove the build containers that builds kept on purpose (-on-error=abort)")
	cmd.Flags().StringSliceVar(&regions, "region", nil, "also search these regions by tag (default: the regions in the ledger and AWS_REGION)")
	return cmd
}

// cleanupOptions are the cleanup command's flags.
type cleanupOptions struct {
	run                      string
	all, dryRun, includeKept bool
	regions                  []string
}

func runCleanup(ctx context.Context, s *Streams, o cleanupOptions) error {
	run, all, dryRun, regions := o.run, o.all, o.dryRun, o.regions
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
	awsFound, err := sw.Find(ctx, run, skip)
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("finding leftovers: %w", err)}
	}
	var found []leftover
	for _, f := range awsFound {
		found = append(found, leftover{f.String(), func(ctx context.Context) error { return sw.Remove(ctx, f) }})
	}
	containers, err := dockerLeftovers(ctx, s, l, entries, o, skip)
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("finding leftover containers: %w", err)}
	}
	found = append(found, containers...)
	if len(found) == 0 {
		fmt.Fprintln(s.Out, "Nothing to clean up.")
		return nil
	}
	if dryRun {
		for _, f := range found {
			fmt.Fprintf(s.Out, "would remove %s\n", f.what)
		}
		fmt.Fprintf(s.Out, "%d resource(s) would be removed (dry run: nothing was changed).\n", len(found))
		return nil
	}
	var errs []error
	removed := 0
	for _, f := range found {
		if err := f.remove(ctx); err != nil {
			fmt.Fprintf(s.Err, "failed to remove %s: %v\n", f.what, err)
			errs = append(errs, err)
			continue
		}
		removed++
		fmt.Fprintf(s.Out, "removed %s\n", f.what)
	}
	fmt.Fprintf(s.Out, "%d resource(s) removed.\n", removed)
	if err := l.Compact(); err != nil {
		fmt.Fprintf(s.Err, "warning: %v\n", err)
	}
	if len(errs) > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d resource(s) could not be removed; run imgbuild cleanup again, or remove them by hand (AWS console, docker rm -f)", len(errs))}
	}
	return nil
}

// leftover is one resource a build left, and how to remove it.
type leftover struct {
	what   string
	remove func(context.Context) error
}

// dockerLeftovers finds the build containers that killed builds left: the
// ledger's outstanding ones the engine still has and, with --all, every
// container named as imgbuild names them. The engine is only asked when
// there is something to ask about.
func dockerLeftovers(ctx context.Context, s *Streams, l *ledger.Ledger, entries []ledger.Entry, o cleanupOptions, skip func(string) bool) ([]leftover, error) {
	recorded := 0
	for _, e := range ledger.Outstanding(entries, o.run) {
		if e.Kind == ledger.KindContainer {
			recorded++
		}
	}
	var kept []ledger.Entry
	for _, e := range ledger.KeptResources(entries, o.run) {
		if e.Kind == ledger.KindContainer {
			kept = append(kept, e)
		}
	}
	if recorded == 0 && !o.all && !(o.includeKept && len(kept) > 0) {
		return nil, nil
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		// Not a reason to leave AWS resources behind: say it and go on.
		if recorded > 0 {
			fmt.Fprintf(s.Err, "note: %d build container(s) in the ledger were not checked: %v\n", recorded, err)
		}
		return nil, nil
	}
	// A stalled engine must not hang cleanup without a word.
	qctx, cancel := context.WithTimeout(ctx, engineQueryTimeout)
	defer cancel()
	found, elsewhere, err := dockerengine.FindLeftovers(qctx, cli, l, entries, o.run, skip)
	if err == nil && o.all && o.run == "" {
		var keep []string
		if !o.includeKept {
			for _, e := range kept {
				keep = append(keep, e.ID)
			}
		}
		var named []dockerengine.Leftover
		named, err = dockerengine.NamedLeftovers(qctx, cli, found, keep)
		found = append(found, named...)
	}
	if err != nil {
		cli.Close()
		if qctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("the Docker engine at %s did not answer within %s; is it running? (AWS resources were still cleaned up)", cli.DaemonHost(), engineQueryTimeout)
		}
		return nil, err
	}
	if o.includeKept {
		seen := map[string]bool{}
		for _, f := range found {
			seen[f.Name] = true
		}
		for _, e := range kept {
			if !seen[e.ID] && (e.Endpoint == "" || e.Endpoint == cli.DaemonHost()) {
				found = append(found, dockerengine.Leftover{Name: e.ID, Run: e.Run, Build: e.Build + ", kept"})
			}
		}
	} else if len(kept) > 0 {
		fmt.Fprintf(s.Err, "note: %d build container(s) kept on purpose (-on-error=abort) are left; --include-kept removes them too\n", len(kept))
	}
	for _, e := range elsewhere {
		fmt.Fprintf(s.Err, "note: container %s was made on the engine at %s; set DOCKER_HOST to it to clean it up\n", e.ID, e.Endpoint)
	}
	var out []leftover
	for _, lo := range found {
		out = append(out, leftover{lo.String(), func(ctx context.Context) error {
			rctx, cancel := context.WithTimeout(ctx, engineQueryTimeout)
			defer cancel()
			return dockerengine.RemoveLeftover(rctx, cli, l, lo)
		}})
	}
	// The client stays open for the removals; the process ends soon after.
	return out, nil
}

// engineQueryTimeout bounds each question to the Docker engine.
const engineQueryTimeout = 30 * time.Second
