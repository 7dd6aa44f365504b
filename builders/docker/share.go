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
	"slices"
	"strings"

	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
)

// A docker checkpoint travels (-cache-url) as the checkpoint image saved
// by the engine (docker save), split so that each layer is a file of its
// own: the object store keeps files by content, so a layer shared by many
// checkpoints is stored once and a runner that pulls a chain downloads it
// once. The base image's layers are not shared at all: a runner that
// looks a checkpoint up has the base image the key names. The "recipe"
// lists the archive's entries in order, small ones inline, large ones by
// role ("part-N"); Install streams the archive back into docker load,
// which must give the image id the entry names (the digest of its
// configuration in the classic image store, of its manifest in the
// containerd one: docker save keeps both as they are).
type imagePorter struct{}

func init() { cache.RegisterPorter("docker", imagePorter{}) }

// inlineMax is the largest archive entry kept in the recipe itself.
const inlineMax = 64 << 10

type recipeEntry struct {
	Header *tar.Header `json:"header"`
	Inline []byte      `json:"inline,omitempty"`
	Part   string      `json:"part,omitempty"` // the role of the file holding the content
	// BaseLayer marks a layer of the build's base image, which is not
	// shared: the key covers the base image's id, so every runner that
	// installs the checkpoint has it. docker load does not read the
	// content of a layer the engine has (the classic store's layer, the
	// containerd store's blob), so it is loaded empty.
	BaseLayer bool `json:"base_layer,omitempty"`
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
	files, err := exportImage(ctx, cli, e.Ref, baseLayers(ctx, cli, e), dir)
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("saving checkpoint image %s: %w", short(e.Ref), err)
	}
	return files, done, nil
}

// baseLayers returns the layers (diff ids, bottom first) of e's base
// image, when e names one the engine has; none otherwise (everything is
// then shared).
func baseLayers(ctx context.Context, cli *client.Client, e cache.Entry) []string {
	id := baseImageID(e)
	if id == "" {
		return nil
	}
	info, err := cli.ImageInspect(ctx, id)
	if err != nil || info.RootFS.Type != "layers" {
		return nil
	}
	return info.RootFS.Layers
}

// baseImageID is the id of the base image e was built on (the digest its
// BaseIdentity starts with), or "".
func baseImageID(e cache.Entry) string {
	if !strings.HasPrefix(e.Base, "sha256:") {
		return ""
	}
	return e.Base
}

// exportImage splits docker save's archive of ref into dir (see
// splitArchive).
func exportImage(ctx context.Context, cli *client.Client, ref string, base []string, dir string) (map[string]string, error) {
	rc, err := cli.ImageSave(ctx, []string{ref})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return splitArchive(rc, base, dir)
}

// splitArchive splits docker save's archive into dir: the recipe and one
// file per large entry, leaving out the layers of the base image (base:
// its diff ids, bottom first).
//
// The base image's layers are the first ones of the checkpoint's, which
// the archive's manifest.json lists by entry name: they are told by that
// position, not by their content. An entry holds a layer as the engine
// stores it: uncompressed in the classic image store (named by its diff
// id), but possibly compressed in the containerd image store (a pulled
// base image's). Position needs no hashing either.
func splitArchive(r io.Reader, base []string, dir string) (map[string]string, error) {
	files := map[string]string{}
	var recipe []recipeEntry
	tr := tar.NewReader(r)
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
	m, config, err := readManifest(recipe, files)
	if err != nil {
		return nil, err
	}
	names := baseLayerEntries(m, config, base)
	if err := checkComplete(recipe, m, names); err != nil {
		return nil, err
	}
	for i := range recipe {
		re := &recipe[i]
		if !names[re.Header.Name] || re.Header.Typeflag != tar.TypeReg {
			continue
		}
		if re.Part != "" {
			os.Remove(files[re.Part])
			delete(files, re.Part)
		}
		re.Inline, re.Part, re.BaseLayer = nil, "", true
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

// saveManifest is the part of docker save's manifest.json read here (the
// same in the classic layout and, for compatibility, in the OCI layout of
// Docker 25 on): the configuration's entry and the layers' entries,
// bottom first.
type saveManifest struct {
	Config string
	Layers []string
}

// imageConfig is the part of an image configuration read here.
type imageConfig struct {
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// configMax bounds an image configuration read from a part file.
const configMax = 16 << 20

// readManifest reads the archive's manifest.json and the configuration
// it names; both zero when the archive has none (a layout unknown here).
func readManifest(recipe []recipeEntry, files map[string]string) (saveManifest, imageConfig, error) {
	content := func(name string) ([]byte, error) {
		for _, re := range recipe {
			if re.Header.Name != name {
				continue
			}
			if re.Part == "" {
				return re.Inline, nil
			}
			f, err := os.Open(files[re.Part])
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return io.ReadAll(io.LimitReader(f, configMax))
		}
		return nil, nil
	}
	b, err := content("manifest.json")
	if err != nil {
		return saveManifest{}, imageConfig{}, err
	}
	var manifest []saveManifest
	if b == nil || json.Unmarshal(b, &manifest) != nil || len(manifest) != 1 {
		return saveManifest{}, imageConfig{}, nil
	}
	m := manifest[0]
	if b, err = content(m.Config); err != nil {
		return saveManifest{}, imageConfig{}, err
	}
	var config imageConfig
	if b == nil || json.Unmarshal(b, &config) != nil {
		return m, imageConfig{}, nil
	}
	return m, config, nil
}

// baseLayerEntries returns the names of the archive's entries that hold
// the base image's layers: the first len(base) layers of the image, when
// its configuration's first diff ids are base's. None when there is no
// base, or the archive does not show the image to be built on it
// (everything is then shared, which is never wrong).
func baseLayerEntries(m saveManifest, config imageConfig, base []string) map[string]bool {
	ids := config.RootFS.DiffIDs
	if len(base) == 0 || len(ids) < len(base) || len(m.Layers) != len(ids) || !slices.Equal(ids[:len(base)], base) {
		return nil
	}
	names := map[string]bool{}
	for _, name := range m.Layers[:len(base)] {
		names[name] = true
	}
	// An entry that also holds a layer above the base's (the same blob
	// twice in the OCI layout) is shared: the build wrote it too.
	for _, name := range m.Layers[len(base):] {
		delete(names, name)
	}
	return names
}

// checkComplete fails when the archive lacks the configuration or a
// layer its manifest names, other than the base image's (which are not
// shared): an engine whose content store no longer holds a blob (the
// containerd store can drop a pulled image's) writes such an archive, and
// a checkpoint shared from it could never be loaded.
func checkComplete(recipe []recipeEntry, m saveManifest, base map[string]bool) error {
	if m.Config == "" {
		return nil // no manifest: nothing to check against
	}
	have := map[string]bool{}
	for _, re := range recipe {
		if re.Header.Typeflag == tar.TypeReg {
			have[re.Header.Name] = true
		}
	}
	for _, name := range append([]string{m.Config}, m.Layers...) {
		if !have[name] && !base[name] {
			return fmt.Errorf("docker save wrote no %s, which the image's manifest names: the engine lacks that content", name)
		}
	}
	return nil
}

// writePart writes r to the new file p.
func writePart(p string, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	return errors.Join(err, f.Close())
}

func (p imagePorter) Install(ctx context.Context, s *cache.Store, e, parent cache.Entry, files map[string]string) (string, error) {
	defer func() {
		for _, f := range files {
			os.Remove(f)
		}
	}()
	return p.InstallStream(ctx, s, e, parent, func(role string) (io.ReadCloser, error) {
		f, ok := files[role]
		if !ok {
			return nil, fmt.Errorf("the shared checkpoint lacks %s", role)
		}
		return os.Open(f)
	})
}

var errLoadEnded = errors.New("load ended")

// recipeMax bounds the recipe read into memory: docker save's small
// entries inline, and the headers of the others.
const recipeMax = 64 << 20

// InstallStream streams docker save's archive, put back together from
// the recipe and the parts as they download, into docker load.
func (imagePorter) InstallStream(ctx context.Context, s *cache.Store, e, _ cache.Entry, open func(role string) (io.ReadCloser, error)) (string, error) {
	rc, err := open("recipe")
	if err != nil {
		return "", fmt.Errorf("the shared checkpoint has no recipe: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, recipeMax))
	rc.Close()
	if err != nil {
		return "", fmt.Errorf("reading the shared checkpoint's recipe: %w", err)
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
	if needsBase(recipe) {
		// Always there when the key matched (it covers the base image's
		// id), unless removed since.
		id := baseImageID(e)
		if _, err := cli.ImageInspect(ctx, id); id == "" || err != nil {
			return "", fmt.Errorf("the shared checkpoint leaves out the layers of its base image %q, which is not in the engine", id)
		}
	}
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := writeArchive(pw, recipe, open)
		pw.CloseWithError(err)
		written <- err
	}()
	err = loadImage(ctx, cli, pr)
	pr.CloseWithError(errLoadEnded) // stops the writer if the load did not read it all
	// The writer is done with what it opened before this returns; when
	// reading a part failed, that is why the load failed.
	if werr := <-written; werr != nil && err != nil && !errors.Is(werr, errLoadEnded) {
		err = werr
	}
	if err != nil {
		return "", fmt.Errorf("loading checkpoint image %s: %w", short(e.Ref), err)
	}
	info, err := cli.ImageInspect(ctx, e.Ref)
	if err != nil {
		return "", fmt.Errorf("the loaded checkpoint is not image %s: %w", short(e.Ref), err)
	}
	if err := cli.ImageTag(ctx, info.ID, checkpointName(e.Key, info.ID)); err != nil {
		return "", fmt.Errorf("tagging checkpoint image %s: %w", short(e.Ref), err)
	}
	return info.ID, nil
}

// writeArchive puts docker save's archive back together from the recipe.
func writeArchive(w io.Writer, recipe []recipeEntry, open func(role string) (io.ReadCloser, error)) error {
	tw := tar.NewWriter(w)
	for _, re := range recipe {
		if re.Header == nil {
			return errors.New("a recipe entry has no header")
		}
		hdr := re.Header
		if re.BaseLayer {
			c := *hdr
			c.Size = 0 // the engine has it and does not read it
			hdr = &c
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		switch {
		case re.Part != "":
			f, err := open(re.Part)
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

func needsBase(recipe []recipeEntry) bool {
	for _, re := range recipe {
		if re.BaseLayer {
			return true
		}
	}
	return false
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
