package docker

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
)

// A docker checkpoint travels (-cache-url) as the checkpoint image saved
// by the engine (docker save), split so that each layer is a file of its
// own: the object store keeps files by content, so a layer shared by many
// checkpoints (the base, a parent step's) is stored once and a runner
// that pulls a chain downloads it once. The "recipe" lists the archive's
// entries in order, small ones inline, large ones by role ("part-N");
// Install streams the archive back into docker load, which must give the
// image id the entry names (the digest of its configuration, which names
// every layer).
type imagePorter struct{}

func init() { cache.RegisterPorter("docker", imagePorter{}) }

// inlineMax is the largest archive entry kept in the recipe itself.
const inlineMax = 64 << 10

type recipeEntry struct {
	Header *tar.Header `json:"header"`
	Inline []byte      `json:"inline,omitempty"`
	Part   string      `json:"part,omitempty"` // the role of the file holding the content
}

func (imagePorter) Files(ctx context.Context, s *cache.Store, e cache.Entry) (map[string]string, func(), error) {
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cli.Close()
	// In the data folder under a working name: swept if the build is killed.
	dir, err := os.MkdirTemp(s.DataDir(), cache.WorkingPrefix+"docker-export-")
	if err != nil {
		return nil, nil, err
	}
	done := func() { os.RemoveAll(dir) }
	files, err := exportImage(ctx, cli, e.Ref, dir)
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("saving checkpoint image %s: %w", short(e.Ref), err)
	}
	return files, done, nil
}

// exportImage splits docker save's archive of ref into dir: the recipe
// and one file per large entry.
func exportImage(ctx context.Context, cli *client.Client, ref, dir string) (map[string]string, error) {
	rc, err := cli.ImageSave(ctx, []string{ref})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	files := map[string]string{}
	var recipe []recipeEntry
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		re := recipeEntry{Header: hdr}
		switch {
		case hdr.Typeflag != tar.TypeReg:
		case hdr.Size <= inlineMax:
			if re.Inline, err = io.ReadAll(tr); err != nil {
				return nil, err
			}
		default:
			re.Part = fmt.Sprintf("part-%d", len(files))
			p := filepath.Join(dir, re.Part)
			if err := writePart(p, tr); err != nil {
				return nil, err
			}
			files[re.Part] = p
		}
		recipe = append(recipe, re)
	}
	b, err := json.Marshal(recipe)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "recipe.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return nil, err
	}
	files["recipe"] = p
	return files, nil
}

func writePart(p string, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	return errors.Join(err, f.Close())
}

func (imagePorter) Install(ctx context.Context, s *cache.Store, e, _ cache.Entry, files map[string]string) (string, error) {
	defer func() {
		for _, f := range files {
			os.Remove(f)
		}
	}()
	b, err := os.ReadFile(files["recipe"])
	if err != nil {
		return "", errors.New("the shared checkpoint has no recipe")
	}
	var recipe []recipeEntry
	if err := json.Unmarshal(b, &recipe); err != nil {
		return "", fmt.Errorf("reading the shared checkpoint's recipe: %w", err)
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeArchive(pw, recipe, files)) }()
	err = loadImage(ctx, cli, pr)
	pr.CloseWithError(errors.New("load ended")) // stops the writer if the load did not read it all
	if err != nil {
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

// writeArchive puts docker save's archive back together from the recipe.
func writeArchive(w io.Writer, recipe []recipeEntry, files map[string]string) error {
	tw := tar.NewWriter(w)
	for _, re := range recipe {
		if re.Header == nil {
			return errors.New("a recipe entry has no header")
		}
		if err := tw.WriteHeader(re.Header); err != nil {
			return err
		}
		switch {
		case re.Part != "":
			f, err := os.Open(files[re.Part])
			if err != nil {
				return fmt.Errorf("the shared checkpoint lacks %s: %w", re.Part, err)
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		case len(re.Inline) > 0:
			if _, err := tw.Write(re.Inline); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func loadImage(ctx context.Context, cli *client.Client, r io.Reader) error {
	resp, err := cli.ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
