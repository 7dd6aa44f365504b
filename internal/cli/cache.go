package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/cache"
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

func newCacheLsCmd(s *Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List checkpoints: key, template, step, size, age, and what is kept with them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
}

func newCachePruneCmd(s *Streams) *cobra.Command {
	var all bool
	var olderThan time.Duration
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
			store, err := openCache()
			if err != nil {
				return err
			}
			var cutoff time.Time
			if !all {
				cutoff = time.Now().Add(-olderThan)
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
				fmt.Fprintf(s.Out, "removed %s (left by a killed build)\n", p)
			}
			if busy {
				fmt.Fprintln(s.Out, "A build is using the cache: the working files of killed builds are kept until none is.")
			}
			return errors.Join(err, serr)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every checkpoint")
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "remove checkpoints created longer ago than this (e.g. 72h)")
	return cmd
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
