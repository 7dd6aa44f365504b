package installed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/go-version"
)

// Discover lists the installed plugins, described: the layout's binaries
// (sorted by source, then version, lowest first) and then the legacy
// single binaries in the order of their folders' precedence. Binaries
// whose checksum file is missing or does not match, that are built for
// another protocol version, or that do not describe themselves are left
// out with a warning.
func Discover(ctx context.Context, opts Options) (plugins []*Plugin, warnings []string, err error) {
	cache := openDescribeCache(opts.DescribeCache)
	defer cache.save()
	seen := map[string]bool{} // source@version: the first folder wins, as in Packer
	var layout, legacy []*Plugin
	for _, folder := range Folders(opts) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		found, warns := scanLayout(folder, cache)
		warnings = append(warnings, warns...)
		for _, p := range found {
			key := p.Source + "@" + p.Version
			if seen[key] {
				continue
			}
			seen[key] = true
			layout = append(layout, p)
		}
		legacy = append(legacy, scanLegacy(folder)...)
	}
	for _, p := range append(layout, legacy...) {
		if err := describeInto(ctx, p, cache); err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			warnings = append(warnings, fmt.Sprintf("ignoring %s: %v", p.Path, err))
			continue
		}
		if p.Source == "" {
			p.Version = strings.TrimPrefix(p.Desc.Version, "v")
		}
		plugins = append(plugins, p)
	}
	sort.SliceStable(plugins, func(i, j int) bool {
		a, b := plugins[i], plugins[j]
		if (a.Source == "") != (b.Source == "") {
			return a.Source != "" // layout first, legacy after
		}
		if a.Source == "" {
			return false // legacy: keep folder order
		}
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return versionLess(a.Version, b.Version)
	})
	return plugins, warnings, nil
}

// scanLayout finds FOLDER/HOST/NAMESPACE/NAME/packer-plugin-NAME_v*_x*_OS_ARCH
// binaries and checks each against its checksum file.
func scanLayout(folder string, cache *describeCache) (found []*Plugin, warnings []string) {
	matches, _ := filepath.Glob(filepath.Join(folder, "*", "*", "*", "packer-plugin-*"))
	sort.Strings(matches)
	for _, path := range matches {
		file := filepath.Base(path)
		if strings.HasSuffix(file, ChecksumSuffix) {
			continue
		}
		dir := filepath.Dir(path)
		src := Source{
			Host:      filepath.Base(filepath.Dir(filepath.Dir(dir))),
			Namespace: filepath.Base(filepath.Dir(dir)),
			Name:      filepath.Base(dir),
		}
		v, api, ok := parseLayoutName(src.Name, file)
		if !ok {
			continue // another platform, or not a plugin binary's name
		}
		if err := CompatibleAPI(api); err != nil {
			warnings = append(warnings, fmt.Sprintf("ignoring %s: %v", path, err))
			continue
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := verifyChecksum(path, fi, cache); err != nil {
			warnings = append(warnings, fmt.Sprintf("ignoring %s: %v", path, err))
			continue
		}
		found = append(found, &Plugin{Source: src.String(), Name: src.Name, Version: v.String(), Path: path})
	}
	return found, warnings
}

// scanLegacy finds FOLDER/packer-plugin-NAME binaries, which Packer still
// loads by name and which take precedence over the layout's.
func scanLegacy(folder string) []*Plugin {
	matches, _ := filepath.Glob(filepath.Join(folder, "packer-plugin-*"))
	sort.Strings(matches)
	var out []*Plugin
	for _, path := range matches {
		file := filepath.Base(path)
		if strings.Contains(strings.ToUpper(file), ChecksumSuffix) {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(file, "packer-plugin-"), "_")
		fi, err := os.Stat(path)
		if name == "" || err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, &Plugin{Name: name, Path: path})
	}
	return out
}

// verifyChecksum compares the binary with its _SHA256SUM file. The
// describe cache remembers a verified sum for an unchanged file, so that
// a 100 MB plugin is hashed once, not on every run.
func verifyChecksum(path string, fi os.FileInfo, cache *describeCache) error {
	want, err := readChecksumFile(path + ChecksumSuffix)
	if err != nil {
		return err
	}
	if e, ok := cache.lookup(path, fi); ok && e.Verified == want {
		return nil
	}
	got, err := fileSHA256(path)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("its checksum does not match %s (want %s, got %s); reinstall it", filepath.Base(path)+ChecksumSuffix, want, got)
	}
	e, _ := cache.lookup(path, fi)
	e.Verified = got
	cache.store(path, fi, e)
	return nil
}

func readChecksumFile(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		if os.IsNotExist(err) {
			return "", fmt.Errorf("it has no checksum file %s; install it with `imgbuild plugins install`", filepath.Base(file))
		}
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 2*sha256.Size)
	if _, err := io.ReadFull(f, buf); err != nil {
		return "", fmt.Errorf("checksum file %s is not a SHA-256 in hex", filepath.Base(file))
	}
	sum := strings.ToLower(string(buf))
	if _, err := hex.DecodeString(sum); err != nil {
		return "", fmt.Errorf("checksum file %s is not a SHA-256 in hex", filepath.Base(file))
	}
	return sum, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// describeInto fills p.Desc from the cache or by running the binary.
func describeInto(ctx context.Context, p *Plugin, cache *describeCache) error {
	fi, err := os.Stat(p.Path)
	if err != nil {
		return err
	}
	e, ok := cache.lookup(p.Path, fi)
	if !ok || e.Desc.APIVersion == "" {
		d, err := Describe(ctx, p.Path)
		if err != nil {
			return err
		}
		e.Desc = d
		cache.store(p.Path, fi, e)
	}
	if err := CompatibleAPI(e.Desc.APIVersion); err != nil {
		return err
	}
	p.Desc = e.Desc
	return nil
}

// versionLess orders versions semantically (1.9 before 1.10); strings
// that are not versions sort first.
func versionLess(a, b string) bool {
	va, errA := version.NewVersion(a)
	vb, errB := version.NewVersion(b)
	switch {
	case errA != nil && errB != nil:
		return a < b
	case errA != nil:
		return true
	case errB != nil:
		return false
	}
	return va.LessThan(vb)
}
