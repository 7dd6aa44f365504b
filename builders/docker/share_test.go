package docker

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// saveArchive is a docker save archive made here, in either layout.
type saveArchive struct {
	entries []saveEntry
}

type saveEntry struct {
	name string
	data []byte
}

func (a *saveArchive) add(name string, data []byte) {
	a.entries = append(a.entries, saveEntry{name, data})
}

func (a *saveArchive) bytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range a.entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layerTar is a layer's archive holding one file of size bytes (larger
// than inlineMax makes it a part of its own).
func layerTar(t *testing.T, name string, size int) []byte {
	t.Helper()
	var a saveArchive
	a.add(name, bytes.Repeat([]byte(name[:1]), size))
	return a.bytes(t)
}

func configJSON(t *testing.T, diffIDs ...string) []byte {
	t.Helper()
	var c imageConfig
	c.RootFS.DiffIDs = diffIDs
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func manifestJSON(t *testing.T, config string, layers ...string) []byte {
	t.Helper()
	b, err := json.Marshal([]saveManifest{{Config: config, Layers: layers}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSplitArchiveLeavesOutTheBaseLayersInBothLayoutsAndPutsTheRestBack(t *testing.T) {
	baseLayer := layerTar(t, "base-file", 3*inlineMax) // a part
	smallBase := layerTar(t, "small-base", 100)        // inline
	buildLayer := layerTar(t, "built-file", 2*inlineMax)
	base := []string{cache.Digest(smallBase), cache.Digest(baseLayer)}
	built := cache.Digest(buildLayer)

	// Docker before 25 (classic store): <v1 id>/layer.tar, uncompressed.
	var classic saveArchive
	classic.add("aaa/layer.tar", smallBase)
	classic.add("bbb/VERSION", []byte("1.0"))
	classic.add("bbb/layer.tar", baseLayer)
	classic.add("ccc/layer.tar", buildLayer)
	classic.add("cfg.json", configJSON(t, append(slices.Clone(base), built)...))
	classic.add("manifest.json", manifestJSON(t, "cfg.json", "aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"))

	// Docker 25 on, containerd store: OCI blobs named by the digest of
	// what the engine stores, here the base image's layers compressed (a
	// pulled image's), so that no blob's name is a base diff id.
	var oci saveArchive
	zSmall, zBase := gzipped(t, smallBase), gzipped(t, bytes.Repeat(baseLayer, 4))
	blob := func(b []byte) string { return "blobs/sha256/" + cache.Digest(b)[len("sha256:"):] }
	cfg := configJSON(t, append(slices.Clone(base), built)...)
	oci.add(blob(zSmall), zSmall)
	oci.add(blob(zBase), zBase)
	oci.add(blob(buildLayer), buildLayer)
	oci.add(blob(cfg), cfg)
	oci.add("index.json", []byte(`{"schemaVersion":2}`))
	oci.add("manifest.json", manifestJSON(t, blob(cfg), blob(zSmall), blob(zBase), blob(buildLayer)))
	oci.add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))

	for name, tc := range map[string]struct {
		archive    saveArchive
		baseNames  []string
		builtEntry string
	}{
		"classic": {classic, []string{"aaa/layer.tar", "bbb/layer.tar"}, "ccc/layer.tar"},
		"oci":     {oci, []string{blob(zSmall), blob(zBase)}, blob(buildLayer)},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			in := tc.archive.bytes(t)
			files, err := splitArchive(bytes.NewReader(in), base, dir)
			if err != nil {
				t.Fatal(err)
			}
			var recipe []recipeEntry
			b, err := os.ReadFile(files["recipe"])
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &recipe); err != nil {
				t.Fatal(err)
			}
			for _, re := range recipe {
				isBase := slices.Contains(tc.baseNames, re.Header.Name)
				if re.BaseLayer != isBase {
					t.Errorf("entry %s: base layer %v, want %v", re.Header.Name, re.BaseLayer, isBase)
				}
				if isBase && (re.Part != "" || len(re.Inline) > 0) {
					t.Errorf("base layer %s is stored (part %q, %d bytes inline)", re.Header.Name, re.Part, len(re.Inline))
				}
				if re.Header.Name == tc.builtEntry && re.Part == "" {
					t.Errorf("the build's layer %s is not stored as a part", re.Header.Name)
				}
			}
			if len(files) != 2 { // the recipe and the build's layer
				t.Errorf("files = %v, want the recipe and one part", files)
			}

			// Put back together: every entry as it was, but the base
			// layers, which are empty (the engine has them).
			var out bytes.Buffer
			err = writeArchive(&out, recipe, func(role string) (io.ReadCloser, error) {
				f, ok := files[role]
				if !ok {
					return nil, fmt.Errorf("no part %s", role)
				}
				return os.Open(f)
			})
			if err != nil {
				t.Fatal(err)
			}
			got := tar.NewReader(&out)
			for _, e := range tc.archive.entries {
				hdr, err := got.Next()
				if err != nil {
					t.Fatalf("the archive put back ends before %s: %v", e.name, err)
				}
				data, _ := io.ReadAll(got)
				want := e.data
				if slices.Contains(tc.baseNames, e.name) {
					want = nil
				}
				if hdr.Name != e.name || !bytes.Equal(data, want) {
					t.Errorf("entry %s (%d bytes) put back as %s (%d bytes)", e.name, len(want), hdr.Name, len(data))
				}
			}
		})
	}
}

func TestSplitArchiveSharesEverythingWhenTheImageIsNotBuiltOnTheBase(t *testing.T) {
	layer := layerTar(t, "file", 2*inlineMax)
	other := layerTar(t, "other", 100)
	var a saveArchive
	a.add("aaa/layer.tar", layer)
	a.add("cfg.json", configJSON(t, cache.Digest(layer)))
	a.add("manifest.json", manifestJSON(t, "cfg.json", "aaa/layer.tar"))
	for name, base := range map[string][]string{
		"another base":            {cache.Digest(other)},
		"a base with more layers": {cache.Digest(layer), cache.Digest(other)},
		"no base":                 nil,
	} {
		t.Run(name, func(t *testing.T) {
			files, err := splitArchive(bytes.NewReader(a.bytes(t)), base, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := files["part-0"]; !ok {
				t.Errorf("the image's only layer was left out: files = %v", files)
			}
		})
	}
}

func TestSplitArchiveRefusesAnArchiveThatLacksALayerOtherThanTheBases(t *testing.T) {
	baseLayer, built := layerTar(t, "base", 100), layerTar(t, "built", 100)
	base := []string{cache.Digest(baseLayer)}
	config := configJSON(t, base[0], cache.Digest(built))
	manifest := manifestJSON(t, "blobs/sha256/cfg", "blobs/sha256/base", "blobs/sha256/built")

	// An engine that no longer holds a blob writes the manifest naming it
	// but not the blob: the base's may be missing (it is not shared), the
	// build's may not.
	var noBase saveArchive
	noBase.add("blobs/sha256/built", built)
	noBase.add("blobs/sha256/cfg", config)
	noBase.add("manifest.json", manifest)
	if _, err := splitArchive(bytes.NewReader(noBase.bytes(t)), base, t.TempDir()); err != nil {
		t.Errorf("an archive without the base's layer: %v", err)
	}

	var noBuilt saveArchive
	noBuilt.add("blobs/sha256/base", baseLayer)
	noBuilt.add("blobs/sha256/cfg", config)
	noBuilt.add("manifest.json", manifest)
	_, err := splitArchive(bytes.NewReader(noBuilt.bytes(t)), base, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "blobs/sha256/built") {
		t.Errorf("an archive without the build's layer gave %v, want an error naming it", err)
	}

	var noConfig saveArchive
	noConfig.add("blobs/sha256/base", baseLayer)
	noConfig.add("blobs/sha256/built", built)
	noConfig.add("manifest.json", manifest)
	if _, err := splitArchive(bytes.NewReader(noConfig.bytes(t)), base, t.TempDir()); err == nil || !strings.Contains(err.Error(), "blobs/sha256/cfg") {
		t.Errorf("an archive without the configuration gave %v, want an error naming it", err)
	}
}
