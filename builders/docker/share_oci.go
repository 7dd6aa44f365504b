package docker

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/cache/ocicache"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/filelock"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/wait"
)

// A docker checkpoint in an OCI registry (-cache-url oci://) is the
// checkpoint image itself, pushed and pulled by the engine, which moves
// only the layers the other side lacks. The names the transfer needs
// (host/repo:<key>, host/repo@digest) are removed from the engine after
// it: locally a checkpoint only has its checkpointName. Such a name
// would keep the image after cache prune, so it is in the resource
// ledger while it exists: imgbuild cleanup removes what a killed build
// left.
type registryImager struct{}

// KindTransferName is the ledger kind of a name a checkpoint image has
// only while the engine pushes or pulls it (ID the name, Endpoint the
// engine's address).
const KindTransferName = "docker-transfer-name"

// transferRun stands for this process's run in the ledger: the shared
// cache pushes for every build of the run.
var transferRun = uuid.NewString()

func init() {
	ocicache.RegisterImager("docker", registryImager{})
	ledger.Register(ledger.Cleaner{
		Name:  "docker shared-cache image names",
		Kinds: []string{KindTransferName},
		Find:  findTransferNames,
	})
}

var pushedDigest = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

// beginTransfer readies a push or pull of a checkpoint image under the
// engine name name: the registry login, the engine, and the name, held
// (one transfer per name on this machine) and in the ledger until end
// removes it.
func beginTransfer(ctx context.Context, login dockerengine.Login, name string) (cli *client.Client, auth string, end func(), err error) {
	if auth, err = login.RegistryAuth(); err != nil {
		return nil, "", nil, err
	}
	if cli, err = dockerengine.Connect(ctx); err != nil {
		return nil, "", nil, err
	}
	release, err := holdName(ctx, name)
	if err != nil {
		cli.Close()
		return nil, "", nil, err
	}
	recordTransfer(cli, ledger.Created, name)
	return cli, auth, func() {
		untag(cli, name)
		release()
		cli.Close()
	}, nil
}

func (registryImager) PushImage(ctx context.Context, e cache.Entry, name string, login dockerengine.Login) (string, error) {
	cli, auth, end, err := beginTransfer(ctx, login, name)
	if err != nil {
		return "", err
	}
	defer end()
	if err := cli.ImageTag(ctx, e.Ref, name); err != nil {
		return "", fmt.Errorf("tagging checkpoint image %s as %s: %w", short(e.Ref), name, err)
	}
	rc, err := cli.ImagePush(ctx, name, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %s", name, secret.Mask(err.Error()))
	}
	defer rc.Close()
	// The engine's last status names the manifest it pushed:
	// "<tag>: digest: sha256:... size: N".
	last, err := dockerengine.ReadStream(rc, nil)
	if err != nil {
		return "", fmt.Errorf("pushing %s: %s", name, secret.Mask(err.Error()))
	}
	m := pushedDigest.FindStringSubmatch(last)
	if m == nil {
		return "", fmt.Errorf("pushing %s: the engine did not report the pushed digest (%q)", name, last)
	}
	return m[1], nil
}

func (registryImager) PullImage(ctx context.Context, e cache.Entry, name, digest string, login dockerengine.Login) (string, error) {
	ref := name + "@" + digest
	cli, auth, end, err := beginTransfer(ctx, login, ref)
	if err != nil {
		return "", err
	}
	defer end()
	rc, err := cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err == nil {
		_, err = dockerengine.ReadStream(rc, nil)
		rc.Close()
	}
	if err != nil {
		return "", fmt.Errorf("pulling %s: %s", ref, secret.Mask(err.Error()))
	}
	info, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("inspecting the pulled %s: %w", ref, err)
	}
	// The image id is the digest of its configuration, which names every
	// layer: the same id is the same checkpoint.
	if info.ID != e.Ref {
		return "", fmt.Errorf("%w: %s is image %s, not %s as its entry says", ocicache.ErrCorrupt, ref, short(info.ID), short(e.Ref))
	}
	if err := cli.ImageTag(ctx, info.ID, checkpointName(e.Key, info.ID)); err != nil {
		return "", fmt.Errorf("tagging checkpoint image %s: %w", short(info.ID), err)
	}
	return info.ID, nil
}

// holdName waits until no other build on this machine uses name in the
// engine (two builds pushing or pulling one checkpoint at once would move
// or remove each other's name), and returns what lets it go. The lock is
// the kernel's, on a file that the holder removes as it lets go.
func holdName(ctx context.Context, name string) (release func(), err error) {
	sum := sha256.Sum256([]byte(name))
	path := filepath.Join(os.TempDir(), fmt.Sprintf("imgbuild-engine-name-%x.lock", sum[:8]))
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("locking the engine name %s: %w", name, err)
		}
		for {
			ok, err := filelock.TryExclusive(f)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("locking the engine name %s: %w", name, err)
			}
			if ok {
				break
			}
			if err := wait.Sleep(ctx, 50*time.Millisecond); err != nil {
				f.Close()
				return nil, err
			}
		}
		// The previous holder may have removed the file before this one
		// locked it: then lock the file now at path.
		held, herr := f.Stat()
		now, nerr := os.Stat(path)
		if herr == nil && nerr == nil && os.SameFile(held, now) {
			return func() { os.Remove(path); f.Close() }, nil
		}
		f.Close()
	}
}

// untag removes one name of an image (the image itself only when no
// other name holds it), with a context of its own: it also runs after a
// cancel. A failure leaves the name in the ledger for imgbuild cleanup.
func untag(cli *client.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.ImageRemove(ctx, name, image.RemoveOptions{}); err == nil || errdefs.IsNotFound(err) {
		recordTransfer(cli, ledger.Deleted, name)
	}
}

// recordTransfer writes a transfer name's fate to the resource ledger
// (nothing without a state directory: the ledger only serves cleanup).
func recordTransfer(cli *client.Client, action, name string) {
	l, err := ledger.Open("")
	if err != nil {
		return
	}
	host, _ := os.Hostname()
	_ = l.Append(ledger.Entry{Run: transferRun, Action: action, Kind: KindTransferName, ID: name,
		Endpoint: cli.DaemonHost(), PID: os.Getpid(), Host: host})
}

// findTransferNames returns the transfer names that killed runs left and
// the engine still has; those it no longer has are marked deleted.
func findTransferNames(ctx context.Context, q ledger.Query) ([]ledger.Leftover, error) {
	var names []ledger.Entry
	for _, e := range ledger.Outstanding(q.Entries, q.Run) {
		if e.Kind == KindTransferName && (q.Skip == nil || !q.Skip(e.Run)) {
			names = append(names, e)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		fmt.Fprintf(q.Notes, "note: %d shared-cache image name(s) in the ledger were not checked: %v\n", len(names), err)
		return nil, nil
	}
	var found []ledger.Leftover
	for _, e := range names {
		if e.Endpoint != "" && e.Endpoint != cli.DaemonHost() {
			continue
		}
		deleted := ledger.Entry{Run: e.Run, Action: ledger.Deleted, Kind: e.Kind, ID: e.ID, Endpoint: e.Endpoint}
		if _, err := cli.ImageInspect(ctx, e.ID); errdefs.IsNotFound(err) {
			_ = q.Ledger.Append(deleted)
			continue
		} else if err != nil {
			cli.Close()
			return nil, fmt.Errorf("checking image name %s: %w", e.ID, err)
		}
		found = append(found, ledger.Leftover{
			What: fmt.Sprintf("docker image name %s (a shared-cache transfer of run %s)", e.ID, e.Run),
			Remove: func(ctx context.Context) error {
				if _, err := cli.ImageRemove(ctx, e.ID, image.RemoveOptions{PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
					return err
				}
				return q.Ledger.Append(deleted)
			},
		})
	}
	if len(found) == 0 {
		cli.Close()
	}
	// Otherwise the client stays open for the removals; the process ends soon after.
	return found, nil
}
