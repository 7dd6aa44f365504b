package e2e

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// imageFiles exports ref's file system (through a container that is
// created, never started, and removed) and describes every entry: type,
// mode, owner, link target and content digest. Times are left out: two
// builds never share them.
func imageFiles(t *testing.T, cli *client.Client, ref string) map[string]string {
	t.Helper()
	ctx := context.Background()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: ref, Cmd: []string{"/bin/true"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("creating a container from %s to export it: %v", ref, err)
	}
	defer removeContainer(cli, c.ID)
	rc, err := cli.ContainerExport(ctx, c.ID)
	if err != nil {
		t.Fatalf("exporting %s: %v", ref, err)
	}
	defer rc.Close()
	return tarFiles(t, ref, rc)
}

// tarFiles describes every entry of a tar stream (see imageFiles).
func tarFiles(t *testing.T, what string, r io.Reader) map[string]string {
	t.Helper()
	files := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the export of %s: %v", what, err)
		}
		d := sha256.New()
		if _, err := io.Copy(d, tr); err != nil {
			t.Fatalf("reading %s from the export of %s: %v", h.Name, what, err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = fmt.Sprintf("%c %o %d:%d %s %s",
			h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, hex.EncodeToString(d.Sum(nil))[:16])
	}
	return files
}

// diffFiles lists how got differs from want.
func diffFiles(got, want map[string]string) []string {
	var diffs []string
	for name, wd := range want {
		if gd, ok := got[name]; !ok {
			diffs = append(diffs, "missing "+name)
		} else if gd != wd {
			diffs = append(diffs, fmt.Sprintf("differs %s: %s, want %s", name, gd, wd))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, "extra "+name)
		}
	}
	sort.Strings(diffs)
	return diffs
}

// tarballFiles describes the entries of a tar file.
func tarballFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("opening the exported tarball: %v", err)
	}
	defer f.Close()
	return tarFiles(t, path, f)
}

// sameFiles fails when the two images' file systems differ, naming the
// entries that do.
func sameFiles(t *testing.T, cli *client.Client, got, want string) {
	t.Helper()
	g, w := imageFiles(t, cli, got), imageFiles(t, cli, want)
	if diffs := diffFiles(g, w); len(diffs) > 0 {
		t.Errorf("image %s differs from the cold build %s (%d entries compared):\n%s", got, want, len(w), strings.Join(diffs, "\n"))
	}
}

// sameConfig fails when the two images would not run alike: their
// entrypoint, command, environment, labels, user or working folder differ.
func sameConfig(t *testing.T, cli *client.Client, got, want string) {
	t.Helper()
	describe := func(ref string) string {
		info, err := cli.ImageInspect(context.Background(), ref)
		if err != nil {
			t.Fatalf("inspecting %s: %v", ref, err)
		}
		c := info.Config
		return fmt.Sprintf("entrypoint %q cmd %q env %q labels %v user %q workdir %q", c.Entrypoint, c.Cmd, c.Env, c.Labels, c.User, c.WorkingDir)
	}
	if g, w := describe(got), describe(want); g != w {
		t.Errorf("image %s is configured as\n%s\nbut the cold build %s as\n%s", got, g, want, w)
	}
}

// builtOnACheckpoint reports whether the image's history holds a step
// cache checkpoint.
func builtOnACheckpoint(t *testing.T, cli *client.Client, ref string) bool {
	t.Helper()
	hist, err := cli.ImageHistory(context.Background(), ref)
	if err != nil {
		t.Fatalf("reading the history of %s: %v", ref, err)
	}
	for _, h := range hist {
		if strings.HasPrefix(h.Comment, "imgbuild step cache ") {
			return true
		}
	}
	return false
}

// cacheDir returns a cache folder for the test and the environment that
// points imgbuild at it. When the test ends, every checkpoint is pruned
// through the CLI and the test fails if a checkpoint image is left.
func cacheDir(t *testing.T, cli *client.Client) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	env := []string{"IMGBUILD_CACHE_DIR=" + dir}
	t.Cleanup(func() {
		store, err := cache.Open(dir)
		if err != nil {
			t.Error(err)
			return
		}
		entries, _ := store.List()
		if r := imgbuild(t, env, "cache", "prune", "--all"); r.code != 0 {
			t.Errorf("imgbuild cache prune --all failed:\n%s", r)
		}
		for _, e := range entries {
			if _, err := cli.ImageInspect(context.Background(), e.Ref); err == nil {
				t.Errorf("checkpoint image %s (step %d) is left after imgbuild cache prune --all", e.Ref, e.Step)
				_, _ = cli.ImageRemove(context.Background(), e.Ref, imageRemoveForce)
			}
		}
	})
	return dir, env
}

// writeFiles fills dir with name -> content.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// savedLayerDigests returns the digests of ref's layers as docker save
// writes them, which is what the shared cache stores: uncompressed
// "<id>/layer.tar" files on the classic image store (digest = diff id),
// "blobs/sha256/<digest>" on the containerd image store, where a layer
// the engine made itself (a commit) is gzip-compressed and its digest
// is not the diff id that RootFS.Layers lists.
func savedLayerDigests(t *testing.T, cli *client.Client, ref string) map[string]bool {
	t.Helper()
	rc, err := cli.ImageSave(context.Background(), []string{ref})
	if err != nil {
		t.Fatalf("saving %s: %v", ref, err)
	}
	defer rc.Close()
	digests := map[string]string{}
	var manifest []struct{ Layers []string }
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading docker save of %s: %v", ref, err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				t.Fatalf("docker save of %s: manifest.json: %v", ref, err)
			}
			continue
		}
		d := sha256.New()
		if _, err := io.Copy(d, tr); err != nil {
			t.Fatalf("reading %s from docker save of %s: %v", h.Name, ref, err)
		}
		digests[h.Name] = "sha256:" + hex.EncodeToString(d.Sum(nil))
	}
	layers := map[string]bool{}
	for _, m := range manifest {
		for _, l := range m.Layers {
			d, ok := digests[l]
			if !ok {
				t.Fatalf("docker save of %s lists layer %s but has no such file", ref, l)
			}
			layers[d] = true
		}
	}
	if len(layers) == 0 {
		t.Fatalf("docker save of %s has no layers", ref)
	}
	return layers
}
