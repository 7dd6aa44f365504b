package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/ledger"
)

// KindCheckpointCommit is the ledger kind of a checkpoint commit under
// way (ID: the comment the commit gives the image, which names the key
// and the run).
const KindCheckpointCommit = "docker-checkpoint-commit"

func init() {
	ledger.Register(ledger.Cleaner{
		Name:  "docker checkpoint images of killed builds",
		Kinds: []string{KindCheckpointCommit},
		Find:  findUnrecordedCheckpoints,
	})
}

func checkpointComment(key, run string) string {
	return fmt.Sprintf("imgbuild step cache %s (run %s)", key, run)
}

func (st *state) recordCommit(action, comment string) error {
	if err := st.record(KindCheckpointCommit, action, comment); err != nil {
		return fmt.Errorf("recording the checkpoint commit in the resource ledger: %w", err)
	}
	return nil
}

// findUnrecordedCheckpoints finds the images that checkpoint commits still
// outstanding in the ledger made: each is the image whose own layer the
// commit's comment describes. A commit that made nothing is forgotten
// once the engine cannot be finishing it any more (commitTimeout).
func findUnrecordedCheckpoints(ctx context.Context, q ledger.Query) ([]ledger.Leftover, error) {
	var commits []ledger.Entry
	for _, e := range ledger.Outstanding(q.Entries, q.Run) {
		if e.Kind == KindCheckpointCommit && (q.Skip == nil || !q.Skip(e.Run)) {
			commits = append(commits, e)
		}
	}
	if len(commits) == 0 {
		return nil, nil
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		fmt.Fprintf(q.Notes, "note: %d checkpoint commit(s) in the ledger were not checked: %v\n", len(commits), err)
		return nil, nil
	}
	images, err := cli.ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("listing images: %w", err)
	}
	// The comment of each image's own (top) layer.
	made := map[string]string{}
	for _, img := range images {
		if hist, err := cli.ImageHistory(ctx, img.ID); err == nil && len(hist) > 0 {
			made[hist[0].Comment] = img.ID
		}
	}
	var found []ledger.Leftover
	for _, e := range commits {
		if e.Endpoint != "" && e.Endpoint != cli.DaemonHost() {
			continue
		}
		deleted := ledger.Entry{Run: e.Run, Action: ledger.Deleted, Kind: e.Kind, ID: e.ID, Endpoint: e.Endpoint}
		id, ok := made[e.ID]
		if !ok {
			if time.Since(e.Time) < commitTimeout {
				// The engine may still be finishing it: asked again by
				// the next cleanup.
				fmt.Fprintf(q.Notes, "note: a checkpoint commit of run %s may still be finishing in the engine; run imgbuild cleanup again later\n", e.Run)
				continue
			}
			_ = q.Ledger.Append(deleted) // made nothing
			continue
		}
		found = append(found, ledger.Leftover{
			What: fmt.Sprintf("docker checkpoint image %s (a commit of run %s that no cache recorded)", short(strings.TrimPrefix(id, "sha256:")), e.Run),
			Remove: func(ctx context.Context) error {
				if _, err := cli.ImageRemove(ctx, id, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
					return err
				}
				return q.Ledger.Append(deleted)
			},
		})
	}
	if len(found) == 0 {
		cli.Close()
	}
	return found, nil
}
