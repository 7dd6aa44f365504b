package dockerengine

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"

	"github.com/imgbuild/imgbuild/internal/ledger"
)

// KindContainer is the ledger kind of a docker build container (ID is its
// name, Region empty, Endpoint the engine's address).
const KindContainer = "docker-container"

// Leftover is a build container that the resource ledger says a run made
// and never removed, and that the engine still has.
type Leftover struct {
	Name, Run, Build string
}

func (l Leftover) String() string {
	return fmt.Sprintf("docker container %s (build %s, run %s)", l.Name, l.Build, l.Run)
}

// FindLeftovers returns the build containers outstanding in entries (of
// run, or of every run when run is ""; skipRun leaves out runs that may
// still be using theirs) that the engine at cli still has. Containers the
// engine no longer has are marked deleted in l. Entries of another engine
// than cli's are returned in elsewhere, untouched.
func FindLeftovers(ctx context.Context, cli *client.Client, l *ledger.Ledger, entries []ledger.Entry, run string, skipRun func(string) bool) (found []Leftover, elsewhere []ledger.Entry, err error) {
	for _, e := range ledger.Outstanding(entries, run) {
		if e.Kind != KindContainer || (skipRun != nil && skipRun(e.Run)) {
			continue
		}
		if e.Endpoint != "" && e.Endpoint != cli.DaemonHost() {
			elsewhere = append(elsewhere, e)
			continue
		}
		if _, err := cli.ContainerInspect(ctx, e.ID); err != nil {
			if !errdefs.IsNotFound(err) {
				return nil, nil, fmt.Errorf("checking container %s: %w", e.ID, err)
			}
			_ = l.Append(ledger.Entry{Run: e.Run, Action: ledger.Deleted, Kind: e.Kind, ID: e.ID, Endpoint: e.Endpoint})
			continue
		}
		found = append(found, Leftover{Name: e.ID, Run: e.Run, Build: e.Build})
	}
	return found, elsewhere, nil
}

// RemoveLeftover removes a leftover container and marks it deleted in l.
func RemoveLeftover(ctx context.Context, cli *client.Client, l *ledger.Ledger, lo Leftover) error {
	err := cli.ContainerRemove(ctx, lo.Name, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return l.Append(ledger.Entry{Run: lo.Run, Action: ledger.Deleted, Kind: KindContainer, ID: lo.Name, Endpoint: cli.DaemonHost()})
}

// ContainerNamePrefix starts the name of every build container imgbuild
// makes (unless run_command names it), so that leftovers can be found. A
// label would not do: the engine copies container labels into committed
// images.
const ContainerNamePrefix = "imgbuild-"

// NamedLeftovers returns the containers named as imgbuild names build
// containers, other than those in known and those in keep (kept on
// purpose): for `imgbuild cleanup --all`, which also removes what runs
// the ledger does not know left.
func NamedLeftovers(ctx context.Context, cli *client.Client, known []Leftover, keep []string) ([]Leftover, error) {
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", "^/"+ContainerNamePrefix))})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, k := range known {
		seen[k.Name] = true
	}
	for _, n := range keep { // kept on purpose: not leftovers
		seen[n] = true
	}
	var out []Leftover
	for _, c := range list {
		for _, n := range c.Names {
			n = strings.TrimPrefix(n, "/")
			if strings.HasPrefix(n, ContainerNamePrefix) && !seen[n] {
				seen[n] = true
				out = append(out, Leftover{Name: n, Run: "unknown", Build: "unknown"})
			}
		}
	}
	return out, nil
}
