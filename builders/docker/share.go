package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
)

// A docker checkpoint travels (-cache-url) as the checkpoint image saved
// by the engine (docker save: its layers, the base's included, and its
// configuration), stored once per content. After docker load the image
// must have the id the entry names: the id is the digest of the image's
// configuration, which names every layer, so a loaded image with the
// right id is the checkpoint.
type imagePorter struct{}

func init() { cache.RegisterPorter("docker", imagePorter{}) }

func (imagePorter) Files(ctx context.Context, s *cache.Store, e cache.Entry) (map[string]string, func(), error) {
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cli.Close()
	// In the data folder under a working name: swept if the build is killed.
	f, err := os.CreateTemp(s.DataDir(), cache.WorkingPrefix+"docker-save-*.tar")
	if err != nil {
		return nil, nil, err
	}
	done := func() { os.Remove(f.Name()) }
	rc, err := cli.ImageSave(ctx, []string{e.Ref})
	if err == nil {
		_, err = io.Copy(f, rc)
		rc.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("saving checkpoint image %s: %w", short(e.Ref), err)
	}
	return map[string]string{"image": f.Name()}, done, nil
}

func (imagePorter) Install(ctx context.Context, s *cache.Store, e, _ cache.Entry, files map[string]string) (string, error) {
	defer func() {
		for _, f := range files {
			os.Remove(f)
		}
	}()
	path, ok := files["image"]
	if !ok {
		return "", errors.New("the shared checkpoint has no image")
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	if err := loadImage(ctx, cli, path); err != nil {
		return "", fmt.Errorf("loading checkpoint image %s: %w", short(e.Ref), err)
	}
	info, err := cli.ImageInspect(ctx, e.Ref)
	if err != nil {
		return "", fmt.Errorf("the loaded checkpoint is not image %s: %w", short(e.Ref), err)
	}
	if err := cli.ImageTag(ctx, info.ID, CacheRepo+":"+e.Key.Short()); err != nil {
		return "", fmt.Errorf("tagging checkpoint image %s: %w", short(e.Ref), err)
	}
	return info.ID, nil
}

func loadImage(ctx context.Context, cli *client.Client, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	resp, err := cli.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
