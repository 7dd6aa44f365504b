package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imgbuild/imgbuild/internal/cache/ocicache"
	"github.com/imgbuild/imgbuild/internal/cache/remote"
	"github.com/imgbuild/imgbuild/internal/engine"
)

// The shared cache (-cache-url) is chosen by the URL's scheme: s3:// is
// internal/cache/remote, oci:// is internal/cache/ocicache.

func isOCI(url string) bool { return strings.HasPrefix(url, "oci://") }

// checkCacheURL rejects a -cache-url no shared cache can open, before
// anything is built.
func checkCacheURL(url string) error {
	switch {
	case isOCI(url):
		_, _, err := ocicache.ParseURL(url)
		return err
	case strings.HasPrefix(url, "s3://"):
		_, _, err := remote.ParseURL(url)
		return err
	}
	return fmt.Errorf("%q: use s3://bucket/prefix (S3-compatible storage) or oci://host:port/repository (a registry)", url)
}

// openOCI opens the cache at oci://host:port/repository and reads its
// salt, as openS3 does.
func openOCI(ctx context.Context, url string, write bool) (engine.SharedCache, []byte, error) {
	c, err := ocicache.Open(ctx, url, write, Version)
	if err != nil {
		return nil, nil, err
	}
	salt, err := c.Salt(ctx, write)
	return c, salt, err
}

func openOCIStore(ctx context.Context, url string) (*ocicache.Cache, error) {
	if _, _, err := ocicache.ParseURL(url); err != nil {
		return nil, &ExitError{Code: 1, Err: fmt.Errorf("--cache-url: %w", err)}
	}
	return ocicache.Open(ctx, url, true, Version)
}

func listOCI(ctx context.Context, s *Streams, url string) error {
	c, err := openOCIStore(ctx, url)
	if err != nil {
		return err
	}
	entries, err := c.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tBUILD\tSTEP\tSIZE\tLAST USED\tWRITTEN BY")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%d %s\t%s\t%s ago\timgbuild %s\n", e.Key.Short(), e.Build,
			e.Step, e.StepName, humanSize(e.Size), humanAge(time.Since(e.LastUsed)), e.Version)
	}
	return tw.Flush()
}

func pruneOCI(ctx context.Context, s *Streams, url string, cutoff time.Time) error {
	c, err := openOCIStore(ctx, url)
	if err != nil {
		return err
	}
	removed, err := c.Prune(ctx, cutoff)
	for _, e := range removed {
		fmt.Fprintf(s.Out, "removed %s (%s step %d %s)\n", e.Key.Short(), e.Build, e.Step, e.StepName)
	}
	fmt.Fprintf(s.Out, "%d checkpoints removed from %s (the registry frees their layers in its garbage collection)\n", len(removed), url)
	return err
}
