package qemu

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// stepOutputDir creates output_directory; its cleanup removes it unless the
// build succeeded.
func stepOutputDir(ctx context.Context, st *state) (steps.Cleanup, error) {
	dir := st.cfg.OutputDir
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		if !st.env.Force {
			return nil, fmt.Errorf("output directory %s already exists and is not empty: remove it, choose another output_directory, or run with -force", dir)
		}
		st.ui.Say("Deleting the previous output directory " + dir + " (-force)")
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("removing %s: %w", dir, err)
		}
	}
	// In the ledger before it exists: a build killed from now on leaves
	// it to imgbuild cleanup.
	if err := st.recordOutputDir(ledger.Created, dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	st.outputDir = dir
	return func(ctx context.Context) error {
		if st.succeeded {
			return st.recordOutputDir(ledger.Kept, dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		return st.recordOutputDir(ledger.Deleted, dir)
	}, nil
}

// stepSource finds the ISO or disk image: a local path is used in place,
// a URL is downloaded into the cache; either way the checksum is checked.
func stepSource(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	var errs []error
	for _, u := range c.ISOURLs {
		p, err := fetchSource(ctx, st, u)
		if err == nil {
			st.sourcePath = p
			return nil, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func fetchSource(ctx context.Context, st *state, raw string) (string, error) {
	sum, err := expectedChecksum(ctx, st.cfg.ISOChecksum, raw)
	if err != nil {
		return "", err
	}
	local, isURL := localPath(raw)
	if !isURL {
		if _, err := os.Stat(local); err != nil {
			return "", fmt.Errorf("iso_url %s: %w", raw, err)
		}
		if err := verifyFile(local, sum); err != nil {
			return "", err
		}
		return local, nil
	}
	target := st.cfg.ISOTargetPath
	if target == "" {
		ext := st.cfg.ISOTargetExtension
		if ext == "" {
			ext = strings.TrimPrefix(path.Ext(raw), ".")
			if ext == "" {
				ext = "iso"
			}
		}
		key := sha1.Sum([]byte(raw + st.cfg.ISOChecksum))
		target = filepath.Join(cacheDir(), hex.EncodeToString(key[:])+"."+ext)
	}
	if _, err := os.Stat(target); err == nil && !st.cfg.ISOSkipCache {
		if verifyFile(target, sum) == nil {
			st.ui.Say("Using the cached copy of " + raw)
			return target, nil
		}
	}
	st.ui.Say("Downloading " + raw)
	if err := download(ctx, st, raw, target, sum); err != nil {
		return "", err
	}
	return target, nil
}

func cacheDir() string {
	if d := os.Getenv("PACKER_CACHE_DIR"); d != "" {
		return d
	}
	return "packer_cache"
}

// localPath returns the file a URL or path names; isURL is true for
// http(s) URLs, which must be downloaded.
func localPath(raw string) (p string, isURL bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || len(u.Scheme) == 1 { // "C:" style paths
		return raw, false
	}
	switch u.Scheme {
	case "file":
		if u.Opaque != "" {
			return u.Opaque, false
		}
		return u.Path, false
	case "http", "https":
		return "", true
	}
	return raw, false
}

func download(ctx context.Context, st *state, raw, target string, sum *checksum) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("creating the download cache: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return fmt.Errorf("iso_url %s: %w", raw, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", raw, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: server answered %s", raw, resp.Status)
	}
	part := target + ".part"
	f, err := os.Create(part)
	if err != nil {
		return fmt.Errorf("creating %s: %w", part, err)
	}
	body := st.ui.TrackProgress(path.Base(raw), resp.ContentLength, resp.Body)
	defer body.Close()
	var h hash.Hash
	w := io.Writer(f)
	if sum != nil {
		h = sum.newHash()
		w = io.MultiWriter(f, h)
	}
	_, err = io.Copy(w, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(part)
		return fmt.Errorf("downloading %s: %w", raw, err)
	}
	if sum != nil {
		if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, sum.value) {
			os.Remove(part)
			return fmt.Errorf("checksum of %s is %s:%s, iso_checksum expects %s: the download is corrupt or iso_checksum is wrong", raw, sum.kind, got, sum.value)
		}
	}
	return os.Rename(part, target)
}

type checksum struct{ kind, value string }

func (c *checksum) newHash() hash.Hash {
	switch c.kind {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha512":
		return sha512.New()
	}
	return sha256.New()
}

// expectedChecksum resolves iso_checksum for the file at raw: nil for
// "none", the value itself, or the line naming the file in a checksum file.
func expectedChecksum(ctx context.Context, spec, raw string) (*checksum, error) {
	if spec == "none" {
		return nil, nil
	}
	if loc, ok := strings.CutPrefix(spec, "file:"); ok {
		return checksumFromFile(ctx, loc, raw)
	}
	kind, value, ok := strings.Cut(spec, ":")
	if !ok {
		kind, value = guessChecksumType(spec), spec
	}
	return &checksum{kind: kind, value: strings.ToLower(value)}, nil
}

func checksumFromFile(ctx context.Context, loc, raw string) (*checksum, error) {
	var r io.ReadCloser
	if p, isURL := localPath(loc); !isURL {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("reading the iso_checksum file: %w", err)
		}
		r = f
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetching the iso_checksum file %s: %w", loc, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("fetching the iso_checksum file %s: %s", loc, resp.Status)
		}
		r = resp.Body
	}
	defer r.Close()
	name := path.Base(filepath.ToSlash(raw))
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// "<sum>  <name>" (GNU) or "<sum> *<name>"; BSD "SHA256 (<name>) = <sum>".
		if f := strings.Fields(line); len(f) == 2 && path.Base(strings.TrimPrefix(f[1], "*")) == name {
			return &checksum{kind: guessChecksumType(f[0]), value: strings.ToLower(f[0])}, nil
		}
		if f := strings.Fields(line); len(f) == 4 && f[2] == "=" && strings.Trim(f[1], "()") == name {
			return &checksum{kind: strings.ToLower(f[0]), value: strings.ToLower(f[3])}, nil
		}
	}
	return nil, fmt.Errorf("the iso_checksum file %s has no line for %s", loc, name)
}

func verifyFile(p string, sum *checksum) error {
	if sum == nil {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sum.newHash()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("checksumming %s: %w", p, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum.value {
		return fmt.Errorf("checksum of %s is %s:%s, iso_checksum expects %s: fix iso_checksum or the file", p, sum.kind, got, sum.value)
	}
	return nil
}
