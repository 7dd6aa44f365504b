package installed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/go-version"
)

// Install copies the plugin binary at path into the layout of the
// install folder as source, at the version the binary describes, with
// its checksum file beside it. It refuses a binary that does not describe
// itself as a plugin or speaks another protocol version.
func Install(ctx context.Context, opts Options, path, source string) (*Plugin, error) {
	src, err := ParseSource(source)
	if err != nil {
		return nil, err
	}
	desc, err := Describe(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := CompatibleAPI(desc.APIVersion); err != nil {
		return nil, fmt.Errorf("%s cannot be used: %w", path, err)
	}
	v, err := version.NewVersion(desc.Version)
	if err != nil {
		return nil, fmt.Errorf("%s describes its version as %q, which is not a version", path, desc.Version)
	}
	folder := InstallFolder(opts)
	if folder == "" {
		return nil, errors.New("no plugin folder: set HOME, PACKER_CONFIG_DIR or PACKER_PLUGIN_PATH")
	}
	dest := BinaryPath(folder, src, v, desc.APIVersion)
	if err := copyWithChecksum(path, dest); err != nil {
		return nil, fmt.Errorf("installing %s as %s: %w", path, dest, err)
	}
	return &Plugin{Source: src.String(), Name: src.Name, Version: v.String(), Path: dest, Desc: desc}, nil
}

// copyWithChecksum writes the file at src to dest; see Place.
func copyWithChecksum(src, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return place(dest, in)
}

// Place writes a plugin binary read from r into folder's layout as
// version v of src speaking protocol api, with its checksum file, and
// returns its path.
func Place(folder string, src Source, v *version.Version, api string, r io.Reader) (string, error) {
	dest := BinaryPath(folder, src, v, api)
	return dest, place(dest, r)
}

// place writes dest (mode 0755) and dest's checksum file, each through a
// temporary file renamed into place, so that a reader never sees half a
// binary or a checksum that does not match.
func place(dest string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	h := sha256.New()
	if err := writeAtomically(dest, 0o755, func(w io.Writer) error {
		_, err := io.Copy(io.MultiWriter(w, h), r)
		return err
	}); err != nil {
		return err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return writeAtomically(dest+ChecksumSuffix, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, sum)
		return err
	})
}

func writeAtomically(path string, mode os.FileMode, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Installation is one binary of the layout.
type Installation struct {
	Source  string
	Version string
	Path    string
}

// List finds the layout's binaries for this machine in every plugin
// folder whose checksum files match, without starting any; source ""
// lists every plugin, constraint "" every version. Sorted by source, then
// version.
func List(opts Options, source, constraint string) ([]Installation, []string, error) {
	var want Source
	if source != "" {
		s, err := ParseSource(source)
		if err != nil {
			return nil, nil, err
		}
		want = s
	}
	var cons version.Constraints
	if constraint != "" {
		c, err := version.NewConstraint(constraint)
		if err != nil {
			return nil, nil, fmt.Errorf("%q is not a version constraint: %w", constraint, err)
		}
		cons = c
	}
	cache := openDescribeCache(opts.DescribeCache)
	defer cache.save()
	var out []Installation
	var warnings []string
	for _, folder := range Folders(opts) {
		found, warns := scanLayout(folder, cache)
		warnings = append(warnings, warns...)
		for _, p := range found {
			if source != "" && p.Source != want.String() {
				continue
			}
			if cons != nil && !meets(cons, p.Version) {
				continue
			}
			out = append(out, Installation{Source: p.Source, Version: p.Version, Path: p.Path})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return versionLess(out[i].Version, out[j].Version)
	})
	return out, warnings, nil
}

// Remove deletes the layout's binaries of source (and their checksum
// files) whose version meets constraint ("" for all), in every plugin
// folder, and returns the paths it removed.
func Remove(opts Options, source, constraint string) ([]string, error) {
	list, _, err := List(opts, source, constraint)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, in := range list {
		if err := os.Remove(in.Path); err != nil {
			return removed, fmt.Errorf("removing %s: %w", in.Path, err)
		}
		if err := os.Remove(in.Path + ChecksumSuffix); err != nil && !os.IsNotExist(err) {
			return removed, fmt.Errorf("removing %s: %w", in.Path+ChecksumSuffix, err)
		}
		removed = append(removed, in.Path)
	}
	if len(removed) == 0 {
		what := source
		if constraint != "" {
			what += " " + constraint
		}
		return nil, fmt.Errorf("no installed plugin matches %s; `imgbuild plugins installed` lists them", strings.TrimSpace(what))
	}
	return removed, nil
}

// meets checks a version against a constraint; a development build
// (1.0.8-dev, as plugins built without release flags call themselves)
// counts as its release version, as Packer 1.10 and later treat it.
func meets(c version.Constraints, s string) bool {
	v, err := version.NewVersion(s)
	if err != nil {
		return false
	}
	if v.Prerelease() == "dev" {
		v = v.Core()
	}
	return c.Check(v)
}
