package docker

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

// The step cache (imgbuild build -cache): a checkpoint is the build
// container committed to an image named by checkpointName. It is not an
// artifact: its configuration is the base image's, and the final image is
// still committed with the base image's configuration plus changes.

// CacheRepo is the repository of checkpoint images.
const CacheRepo = "imgbuild-cache"

// checkpointName is a checkpoint image's name in the engine:
// CacheRepo:<key12>-<id12>. The image id in it gives each image a name
// of its own, so two caches on one engine (two CI runners) that make the
// same step never move a name between their images: the containerd
// image store can lose the image a name leaves when two such moves meet
// (seen with dockerd 28.5).
func checkpointName(key cache.Key, id string) string {
	return CacheRepo + ":" + key.Short() + "-" + short(strings.TrimPrefix(id, "sha256:"))
}

// legacyCheckpointName is the name earlier versions gave every checkpoint
// of a key; their entries still point at such images.
func legacyCheckpointName(key cache.Key) string {
	return CacheRepo + ":" + key.Short()
}

func init() {
	cache.RegisterRemover("docker", removeCheckpoint)
}

var (
	_ plugin.BaseIdentifier     = (*Builder)(nil)
	_ plugin.CheckpointVerifier = (*Builder)(nil)
	_ plugin.CacheConfiger      = (*Builder)(nil)
)

// BaseIdentity is the base image's id (the digest of its configuration,
// which names its layers). With pull = true the image is pulled first, so
// the identity is that of the image the build will use; Run then does not
// pull again.
func (b *Builder) BaseIdentity(ctx context.Context, ui plugin.UI) (string, error) {
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	st := &state{cfg: &b.config, env: &plugin.BuildEnv{UI: ui}, cli: cli, generated: plugin.GeneratedData{}}
	if _, err := stepPull(ctx, st); err != nil {
		return "", err
	}
	b.pulled = true
	mounts, err := b.mountedHostPaths()
	if err != nil {
		return "", err
	}
	if len(mounts) == 0 {
		return st.base.id, nil
	}
	// Provisioners can read what is mounted: its content is part of the
	// key like an uploaded file's.
	content, err := cache.Key("").Next("docker-volumes", nil, mounts)
	if err != nil {
		return "", err
	}
	return st.base.id + " volumes:" + string(content), nil
}

// mountedHostPaths lists the host paths mounted into the build container:
// volumes, and run_command's -v/--volume. A named docker volume has no
// content imgbuild can read, so a build that mounts one is not cached.
func (b *Builder) mountedHostPaths() ([]string, error) {
	var binds []string
	for host := range b.config.Volumes {
		binds = append(binds, host)
	}
	if spec, err := parseRunCommand(b.config.RunCommand, b.config.Image); err == nil {
		for _, bind := range spec.host.Binds {
			host, _, _ := strings.Cut(bind, ":")
			binds = append(binds, host)
		}
	}
	var paths []string
	for _, host := range binds {
		if !strings.ContainsAny(host, `/\`) && !strings.HasPrefix(host, ".") {
			return nil, fmt.Errorf("the named volume %q is mounted: its content cannot be part of the cache key", host)
		}
		abs, err := filepath.Abs(host)
		if err != nil {
			return nil, err
		}
		paths = append(paths, abs)
	}
	sort.Strings(paths)
	return paths, nil
}

// CacheConfig is the configuration without the options that only shape
// the artifact (what becomes of the container, its commit-time changes)
// or only reach the registry: changing them keeps the checkpoints.
func (b *Builder) CacheConfig() any {
	c := b.config
	c.Commit, c.Discard, c.ExportPath = false, false, ""
	c.Changes, c.Message, c.Author = nil, "", ""
	c.Pull = nil
	c.Login, c.LoginServer, c.LoginUsername, c.LoginPassword, c.EcrLogin = false, "", "", "", false
	c.ECRAccess = awsclient.ECRAccess{}
	return &c
}

// HasCheckpoint reports whether the checkpoint image is still in the
// engine (someone may have removed it by hand).
func (b *Builder) HasCheckpoint(ctx context.Context, ref string) (bool, error) {
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return false, err
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		if errdefs.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// checkpoint commits the build container to a checkpoint image and names
// it (checkpointName needs the id the commit makes). The name, not a
// label, marks it: labels would pass into the containers made from it and
// so into the final image.
//
// The engine finishes a commit it has begun even when its caller goes
// away, making an image no cache entry would name. So an interrupted
// build (Ctrl-C, a timeout) lets the commit under way finish (seconds)
// and records it: the step it saved is good. A build killed outright
// leaves the commit in the resource ledger, with a comment that names the
// run, so that imgbuild cleanup finds that image
// (findUnrecordedCheckpoints).
func checkpoint(ctx context.Context, st *state, key string) (string, int64, error) {
	comment := checkpointComment(key, st.env.RunUUID)
	if err := st.recordCommit(ledger.Created, comment); err != nil {
		return "", 0, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	resp, err := st.cli.ContainerCommit(ctx, st.containerID, container.CommitOptions{
		Comment: comment,
		Pause:   true,
		Config:  commitConfig(st.base.config),
	})
	if err != nil {
		return "", 0, fmt.Errorf("committing container %s to a checkpoint: %w", short(st.containerID), err)
	}
	name := checkpointName(cache.Key(key), resp.ID)
	if err := st.cli.ImageTag(ctx, resp.ID, name); err != nil {
		// The ledger still holds the commit: cleanup removes the image.
		return "", 0, fmt.Errorf("naming checkpoint image %s %s: %w", short(resp.ID), name, err)
	}
	// The cache records it now; an error here only leaves cleanup a
	// lookup to make.
	_ = st.recordCommit(ledger.Deleted, comment)
	var size int64
	if hist, err := st.cli.ImageHistory(ctx, resp.ID); err == nil && len(hist) > 0 {
		size = hist[0].Size // the layer this step added
	}
	return resp.ID, size, nil
}

// commitTimeout bounds a checkpoint commit that an interrupt does not
// stop (a second interrupt still ends imgbuild at once).
const commitTimeout = 10 * time.Minute

// removeCheckpoint deletes a checkpoint image by its name. An image that
// later checkpoints or final images were built on stays, unnamed, until
// they are removed too (the engine then prunes it).
func removeCheckpoint(ctx context.Context, e cache.Entry) error {
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	names := []string{legacyCheckpointName(e.Key)}
	if e.Ref != "" {
		names = append([]string{checkpointName(e.Key, e.Ref)}, names...)
	}
	for _, name := range names {
		info, err := cli.ImageInspect(ctx, name)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("inspecting %s: %w", name, err)
		}
		if e.Ref != "" && info.ID != e.Ref {
			// An earlier version's name, which another cache on this
			// engine took for its image of the same step: not ours.
			continue
		}
		if _, err := cli.ImageRemove(ctx, name, image.RemoveOptions{PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("removing image %s: %w (remove it with: docker rmi %s)", name, err, name)
		}
		return nil
	}
	if e.Ref == "" {
		return nil
	}
	// An earlier version's checkpoint whose name another cache took: the
	// image is ours, unnamed, and would stay behind.
	return removeUnnamed(ctx, cli, e.Ref)
}

// removeUnnamed removes the image id unless it has a name (someone tagged
// it) or images or containers are built on it (they keep it; the engine
// prunes it with the last of them).
func removeUnnamed(ctx context.Context, cli *client.Client, id string) error {
	info, err := cli.ImageInspect(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspecting checkpoint image %s: %w", short(id), err)
	}
	if len(info.RepoTags) > 0 {
		return nil
	}
	_, err = cli.ImageRemove(ctx, id, image.RemoveOptions{PruneChildren: true})
	if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
		return fmt.Errorf("removing checkpoint image %s: %w (remove it with: docker rmi %s)", short(id), err, short(id))
	}
	return nil
}

// checkpointComm is the communicator the provisioners use (the docker
// one, or SSH with communicator = "ssh"), able to checkpoint too. It
// remembers whether the container changed since its last checkpoint: if
// not, the final image is made from that checkpoint (commitFromCheckpoint).
type checkpointComm struct {
	communicator.Communicator
	st *state
}

func (c *checkpointComm) Checkpoint(ctx context.Context, key string) (string, int64, error) {
	id, size, err := checkpoint(ctx, c.st, key)
	if err == nil {
		c.st.checkpointed.Store(&id)
	}
	return id, size, err
}

// Every other call may change the container (a download runs nothing, but
// it is no common last step and cheap to count as one).

func (c *checkpointComm) Run(ctx context.Context, cmd *communicator.Cmd) (int, error) {
	c.st.checkpointed.Store(nil)
	return c.Communicator.Run(ctx, cmd)
}

func (c *checkpointComm) Upload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	c.st.checkpointed.Store(nil)
	return c.Communicator.Upload(ctx, dst, r, mode)
}

func (c *checkpointComm) UploadDir(ctx context.Context, dst, src string, exclude []string) error {
	c.st.checkpointed.Store(nil)
	return c.Communicator.UploadDir(ctx, dst, src, exclude)
}

func (c *checkpointComm) Download(ctx context.Context, src string, w io.Writer) error {
	c.st.checkpointed.Store(nil)
	return c.Communicator.Download(ctx, src, w)
}

func (c *checkpointComm) DownloadDir(ctx context.Context, src, dst string, exclude []string) error {
	c.st.checkpointed.Store(nil)
	return c.Communicator.DownloadDir(ctx, src, dst, exclude)
}

// checkpointSSH is checkpointComm over SSH, which can also reconnect
// (after a reboot).
type checkpointSSH struct {
	checkpointComm
	ssh *ssh.Comm
}

func (c *checkpointSSH) Reconnect(ctx context.Context) error {
	c.st.checkpointed.Store(nil)
	return c.ssh.Reconnect(ctx)
}

var (
	_ plugin.Checkpointer       = (*checkpointComm)(nil)
	_ plugin.Checkpointer       = (*checkpointSSH)(nil)
	_ communicator.Reconnecter  = (*checkpointSSH)(nil)
	_ communicator.Communicator = (*checkpointComm)(nil)
)
