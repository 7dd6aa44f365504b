package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/container"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// A build with -cache commits its final image from a checkpoint: the
// container created from the last checkpoint (not started, or not changed
// since), committed with the commit options. The same checkpoint and the
// same options make the same image, so the cache's data folder remembers
// which image that was (a small record named by those inputs), and an
// unchanged rebuild takes that image, when the engine still has it,
// instead of creating and committing a container again: most of what an
// unchanged rebuild cost. Images are named by their content, so an image
// found by its id is the one recorded.

// finalRecordPrefix starts the names of final-image records.
const finalRecordPrefix = "docker-final-"

// finalRecordMax bounds a record read back (a few hundred bytes).
const finalRecordMax = 4 << 10

var imageID = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// finalRecord says which image the checkpoint's commit made.
type finalRecord struct {
	Checkpoint string `json:"checkpoint"`
	Image      string `json:"image"`
}

func init() { cache.RegisterDataSweeper(unneededFinalRecords) }

// finalRecordPath names the record of committing checkpoint ckpt with
// opts: a digest of everything the commit depends on (the container's
// configuration too, which fills what the options leave empty).
func finalRecordPath(dataDir, ckpt string, st *state, opts container.CommitOptions) string {
	conf := st.spec.config
	conf.Image = ckpt
	b, err := json.Marshal(struct {
		Checkpoint string
		Options    container.CommitOptions
		Container  container.Config
	}{ckpt, opts, conf})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return filepath.Join(dataDir, finalRecordPrefix+hex.EncodeToString(sum[:]))
}

// finalCheckpoint is the checkpoint the final image is committed from,
// with -cache: the resumed one when every provisioner is cached, else the
// last one made if the container has not changed since; "" otherwise.
func finalCheckpoint(st *state) string {
	r := st.env.Resume
	if r == nil || r.DataDir == "" {
		return ""
	}
	if r.Complete {
		return r.Ref
	}
	if ckpt := st.checkpointed.Load(); ckpt != nil {
		return *ckpt
	}
	return ""
}

// recordedFinal returns the image an earlier build committed from the
// same checkpoint with the same options, when the engine still has it.
// Only a build with every provisioner cached asks (stepFindFinal).
func recordedFinal(ctx context.Context, st *state, opts container.CommitOptions) (string, bool) {
	ckpt := finalCheckpoint(st)
	if ckpt == "" {
		return "", false
	}
	rec, err := readFinalRecord(finalRecordPath(st.env.Resume.DataDir, ckpt, st, opts))
	if err != nil || rec.Checkpoint != ckpt {
		return "", false
	}
	if _, err := st.cli.ImageInspect(ctx, rec.Image); err != nil {
		return "", false // removed since: committed again
	}
	return rec.Image, true
}

// recordFinal remembers that committing the build's final checkpoint made
// image id. A record that cannot be written only costs the next rebuild
// a commit.
func recordFinal(st *state, opts container.CommitOptions, id string) {
	ckpt := finalCheckpoint(st)
	if ckpt == "" || !imageID.MatchString(id) {
		return
	}
	path := finalRecordPath(st.env.Resume.DataDir, ckpt, st, opts)
	if path == "" {
		return
	}
	b, _ := json.Marshal(finalRecord{Checkpoint: ckpt, Image: id})
	// Written under a working name and renamed: a reader never sees half.
	tmp, err := os.CreateTemp(filepath.Dir(path), cache.WorkingPrefix+finalRecordPrefix)
	if err != nil {
		return
	}
	_, err = tmp.Write(b)
	if err = errors.Join(err, tmp.Close()); err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}

func readFinalRecord(path string) (finalRecord, error) {
	var rec finalRecord
	f, err := os.Open(path)
	if err != nil {
		return rec, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, finalRecordMax))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, err
	}
	if !imageID.MatchString(rec.Image) || rec.Checkpoint == "" {
		return rec, fmt.Errorf("%s is not a final-image record", path)
	}
	return rec, nil
}

// stepFindFinal looks, when every provisioner is cached, for the image an
// earlier build committed from the same checkpoint with the same options
// (see recordedFinal): found, no container is created and that image is
// the artifact (stepCreate and stepCommit see st.reusedFinal).
func stepFindFinal(ctx context.Context, st *state) (steps.Cleanup, error) {
	if id, ok := recordedFinal(ctx, st, finalCommitOptions(st)); ok {
		st.reusedFinal = id
	}
	return nil, nil
}

// reuseFinal makes the recorded image the artifact.
func reuseFinal(st *state) {
	ckpt := strings.TrimPrefix(st.env.Resume.Ref, "sha256:")
	st.env.UI.Say(fmt.Sprintf("Every provisioner is cached, and checkpoint %s was committed with these options before: that image is the artifact", short(ckpt)))
	st.env.UI.Message("Image ID: " + st.reusedFinal)
	st.generated["ImageSha256"] = st.reusedFinal
	st.artifact = &dockerengine.ImageArtifact{
		BuilderIDValue: dockerengine.BuilderIDImage,
		Ref:            st.reusedFinal,
		Generated:      st.generated,
		Shared:         true,
	}
}

// unneededFinalRecords lists the records of checkpoints the cache no
// longer holds.
func unneededFinalRecords(dataDir string, entries []cache.Entry) ([]string, error) {
	live := map[string]bool{}
	for _, e := range entries {
		if e.Builder == "docker" {
			live[e.Ref] = true
		}
	}
	names, err := filepath.Glob(filepath.Join(dataDir, finalRecordPrefix+"*"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if rec, err := readFinalRecord(n); err != nil || !live[rec.Checkpoint] {
			out = append(out, n)
		}
	}
	return out, nil
}
