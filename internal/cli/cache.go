package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/cache/remote"
)

func init() { register(newCacheCmd) }

func newCacheCmd(s *Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "List and prune build checkpoints (imgbuild build -cache)",
	}
	cmd.AddCommand(newCacheLsCmd(s), newCachePruneCmd(s))
	return cmd
}

func openCache() (*cache.Store, error) {
	dir, err := cache.DefaultDir()
	if err != nil {
		return nil, err
	}
	return cache.Open(dir)
}

// openSharedStore opens the shared cache named by --cache-url.
func openSharedStore(ctx context.Context, url string) (*remote.Store, error) {
	if _, _, err := remote.ParseURL(url); err != nil {
		return nil, &ExitError{Code: 1, Err: fmt.Errorf("--cache-url: %w", err)}
	}
	return remote.Open(ctx, url)
}

func newCacheLsCmd(s *Streams) *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List checkpoints: key, template, step, size, age, and what is kept with them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if url != "" {
				return listShared(cmd.Context(), s, url)
			}
			store, err := openCache()
			if err != nil {
				return err
			}
			entries, err := store.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tTEMPLATE\tBUILD\tSTEP\tSIZE\tAGE\tALSO KEPT")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d %s\t%s\t%s\t%s\n", e.Key.Short(), e.Template, e.Build,
					e.Step, e.StepName, humanSize(e.Size), humanAge(time.Since(e.Created)), cache.Describe(e))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&url, "cache-url", "", "list the shared cache at s3://bucket/prefix or oci://host:port/repository instead of the local one")
	return cmd
}

func listShared(ctx context.Context, s *Streams, url string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if isOCI(url) {
		return listOCI(ctx, s, url)
	}
	store, err := openSharedStore(ctx, url)
	if err != nil {
		return err
	}
	entries, err := store.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tBUILD\tSTEP\tSIZE\tLAST USED\tWRITTEN BY")
	for _, e := range entries {
		var size int64
		for _, f := range e.Files {
			size += f.Size
		}
		fmt.Fprintf(tw, "%s\t%s\t%d %s\t%s\t%s ago\timgbuild %s\n", e.Key.Short(), e.Build,
			e.Step, e.StepName, humanSize(size), humanAge(time.Since(e.LastUsed)), e.Version)
	}
	return tw.Flush()
}

func newCachePruneCmd(s *Streams) *cobra.Command {
	var all bool
	var olderThan time.Duration
	var url string
	cmd := &cobra.Command{
		Use:   "prune (--all | --older-than DURATION)",
		Short: "Remove checkpoints and the images or layers they hold",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			byAge := cmd.Flags().Changed("older-than")
			if all == byAge {
				return &ExitError{Code: 1, Err: fmt.Errorf("give exactly one of --all or --older-than (for example --older-than 168h)")}
			}
			if olderThan < 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("--older-than %s: give a duration of 0 or more (0s removes every checkpoint made until now)", olderThan)}
			}
			var cutoff time.Time
			if !all {
				cutoff = time.Now().Add(-olderThan)
			}
			if url != "" {
				return pruneShared(cmd.Context(), s, url, cutoff)
			}
			store, err := openCache()
			if err != nil {
				return err
			}
			removed, err := store.Prune(context.Background(), cutoff)
			var freed int64
			for _, e := range removed {
				freed += e.Size
				fmt.Fprintf(s.Out, "removed %s (%s step %d %s)\n", e.Key.Short(), e.Build, e.Step, e.StepName)
			}
			fmt.Fprintf(s.Out, "%d checkpoints removed, %s freed\n", len(removed), humanSize(freed))
			swept, busy, serr := store.SweepLeftovers()
			for _, p := range swept {
				fmt.Fprintf(s.Out, "removed %s (left by a killed build, or no checkpoint needs it)\n", p)
			}
			if busy {
				fmt.Fprintln(s.Out, "A build is using the cache: the working files of killed builds are kept until none is.")
			}
			return errors.Join(err, serr)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every checkpoint")
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "remove checkpoints created longer ago than this (e.g. 72h); in the shared cache, last used longer ago")
	cmd.Flags().StringVar(&url, "cache-url", "", "prune the shared cache at s3://bucket/prefix or oci://host:port/repository instead of the local one")
	return cmd
}

func pruneShared(ctx context.Context, s *Streams, url string, cutoff time.Time) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if isOCI(url) {
		return pruneOCI(ctx, s, url, cutoff)
	}
	store, err := openSharedStore(ctx, url)
	if err != nil {
		return err
	}
	removed, err := store.Prune(ctx, cutoff)
	var freed int64
	for _, e := range removed {
		for _, f := range e.Files {
			freed += f.Size
		}
		fmt.Fprintf(s.Out, "removed %s (%s step %d %s)\n", e.Key.Short(), e.Build, e.Step, e.StepName)
	}
	fmt.Fprintf(s.Out, "%d checkpoints removed from %s (%s before compression)\n", len(removed), url, humanSize(freed))
	return err
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
