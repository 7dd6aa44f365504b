package docker

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/cache/ocicache"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/secret"
)

// A docker checkpoint in an OCI registry (-cache-url oci://) is the
// checkpoint image itself, pushed and pulled by the engine, which moves
// only the layers the other side lacks. The names the transfer needs
// (host/repo:<key>, host/repo@digest) are removed from the engine after
// it: locally a checkpoint is only ever CacheRepo:<key12>.
type registryImager struct{}

func init() { ocicache.RegisterImager("docker", registryImager{}) }

var pushedDigest = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

func (registryImager) PushImage(ctx context.Context, e cache.Entry, name string, login dockerengine.Login) (string, error) {
	auth, err := login.RegistryAuth()
	if err != nil {
		return "", err
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	if err := cli.ImageTag(ctx, e.Ref, name); err != nil {
		return "", fmt.Errorf("tagging checkpoint image %s as %s: %w", short(e.Ref), name, err)
	}
	defer untag(cli, name)
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
	auth, err := login.RegistryAuth()
	if err != nil {
		return "", err
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ref := name + "@" + digest
	rc, err := cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err == nil {
		_, err = dockerengine.ReadStream(rc, nil)
		rc.Close()
	}
	if err != nil {
		return "", fmt.Errorf("pulling %s: %s", ref, secret.Mask(err.Error()))
	}
	defer untag(cli, ref)
	info, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("inspecting the pulled %s: %w", ref, err)
	}
	// The image id is the digest of its configuration, which names every
	// layer: the same id is the same checkpoint.
	if info.ID != e.Ref {
		return "", fmt.Errorf("%w: %s is image %s, not %s as its entry says", ocicache.ErrCorrupt, ref, short(info.ID), short(e.Ref))
	}
	if err := cli.ImageTag(ctx, info.ID, CacheRepo+":"+e.Key.Short()); err != nil {
		return "", fmt.Errorf("tagging checkpoint image %s: %w", short(info.ID), err)
	}
	return info.ID, nil
}

// untag removes one name of an image (the image itself only when no
// other name holds it), with a context of its own: it also runs after a
// cancel. A failure leaves a harmless extra name.
func untag(cli *client.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = cli.ImageRemove(ctx, name, image.RemoveOptions{})
}
