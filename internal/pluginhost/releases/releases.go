// Package releases installs Packer plugins from their GitHub releases, as
// `packer init` does: the repository's version tags, the release's
// SHA256SUMS file, and the zip for this machine, verified before its binary
// is placed in the plugin folder's layout.
package releases

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-version"

	"github.com/imgbuild/imgbuild/internal/pluginhost/installed"
	"github.com/imgbuild/imgbuild/internal/tempdir"
)

// Limits on what a release may make us read.
const (
	maxIndex   = 4 << 20 // the tag list and SHA256SUMS file
	maxZip     = 1 << 30 // a plugin's zip
	dialBound  = 10 * time.Second
	indexBound = 30 * time.Second
)

// Getter fetches releases from GitHub; the zero value uses github.com.
type Getter struct {
	API      string // "https://api.github.com"
	Download string // "https://github.com"
	Token    string // PACKER_GITHUB_API_TOKEN, sent to the API only
	Client   *http.Client
}

// ErrUnreachable wraps failures to reach the release server at all: the
// caller then explains how to install offline.
var ErrUnreachable = errors.New("the release server cannot be reached")

func (g *Getter) api() string {
	if g.API != "" {
		return strings.TrimSuffix(g.API, "/")
	}
	return "https://api.github.com"
}

func (g *Getter) download() string {
	if g.Download != "" {
		return strings.TrimSuffix(g.Download, "/")
	}
	return "https://github.com"
}

func (g *Getter) client() *http.Client {
	if g.Client != nil {
		return g.Client
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: dialBound}).DialContext
	tr.TLSHandshakeTimeout = dialBound
	tr.ResponseHeaderTimeout = indexBound
	return &http.Client{Transport: tr}
}

// Repo is the GitHub repository that holds a source's releases:
// github.com/hashicorp/ansible is hashicorp/packer-plugin-ansible.
func Repo(src installed.Source) string {
	return src.Namespace + "/packer-plugin-" + src.Name
}

// Install installs the newest release of source meeting constraint ("" for
// any) into folder and returns it.
func (g *Getter) Install(ctx context.Context, folder, source, constraint string) (*installed.Plugin, error) {
	src, err := installed.ParseSource(source)
	if err != nil {
		return nil, err
	}
	if src.Host != "github.com" {
		return nil, fmt.Errorf("%s is not a github.com source; only GitHub releases can be downloaded: install it with `imgbuild plugins install --path BINARY %s`", source, source)
	}
	var cons version.Constraints
	if constraint != "" {
		if cons, err = version.NewConstraint(constraint); err != nil {
			return nil, fmt.Errorf("%q is not a version constraint: %w", constraint, err)
		}
	}
	versions, err := g.versions(ctx, src)
	if err != nil {
		return nil, err
	}
	var tried []string
	for _, v := range versions {
		if cons != nil && !cons.Check(v) {
			continue
		}
		p, err := g.installVersion(ctx, folder, src, v)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
			return nil, err
		}
		tried = append(tried, fmt.Sprintf("v%s: %v", v, err))
	}
	if len(tried) > 0 {
		return nil, fmt.Errorf("no release of %s %s could be installed:\n  %s", source, constraint, strings.Join(tried, "\n  "))
	}
	return nil, fmt.Errorf("no release of %s meets %q (releases: %v)", source, constraint, versions)
}

// versions lists the repository's release tags, newest first; pre-releases
// are left out, as Packer leaves them out.
func (g *Getter) versions(ctx context.Context, src installed.Source) ([]*version.Version, error) {
	body, err := g.get(ctx, g.api()+"/repos/"+Repo(src)+"/git/matching-refs/tags", true)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var refs []struct {
		Ref string `json:"ref"`
	}
	if err := json.NewDecoder(io.LimitReader(body, maxIndex)).Decode(&refs); err != nil {
		return nil, fmt.Errorf("reading the tags of %s: %w", Repo(src), err)
	}
	var out []*version.Version
	for _, r := range refs {
		v, err := version.NewVersion(strings.TrimPrefix(r.Ref, "refs/tags/"))
		if err == nil && v.Prerelease() == "" {
			out = append(out, v)
		}
	}
	sort.Sort(sort.Reverse(version.Collection(out)))
	return out, nil
}

// installVersion downloads the release's SHA256SUMS, the zip for this
// machine, checks the zip's sum and places its binary.
func (g *Getter) installVersion(ctx context.Context, folder string, src installed.Source, v *version.Version) (*installed.Plugin, error) {
	base := g.download() + "/" + Repo(src) + "/releases/download/v" + v.String() + "/"
	prefix := "packer-plugin-" + src.Name + "_v" + v.String() + "_"
	sums, err := g.get(ctx, base+prefix+"SHA256SUMS", false)
	if err != nil {
		return nil, err
	}
	zipName, api, want, err := pickZip(io.LimitReader(sums, maxIndex), prefix)
	sums.Close()
	if err != nil {
		return nil, err
	}
	tmp, removeTmp, err := tempdir.File("imgbuild-plugin-*.zip")
	if err != nil {
		return nil, err
	}
	defer removeTmp()
	body, err := g.get(ctx, base+zipName, false)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, maxZip+1))
	body.Close()
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", zipName, err)
	}
	if n > maxZip {
		return nil, fmt.Errorf("%s is larger than %d bytes", zipName, maxZip)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return nil, fmt.Errorf("%s does not match its SHA256SUMS entry (want %s, got %s)", zipName, want, got)
	}
	zr, err := zip.NewReader(tmp, n)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", zipName, err)
	}
	binName := strings.TrimSuffix(zipName, ".zip")
	for _, f := range zr.File {
		if f.Name != binName {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		path, err := installed.Place(folder, src, v, api, io.LimitReader(rc, maxZip))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("installing %s: %w", binName, err)
		}
		desc, err := installed.Describe(ctx, path)
		if err != nil {
			os.Remove(path)
			os.Remove(path + installed.ChecksumSuffix)
			return nil, err
		}
		return &installed.Plugin{Source: src.String(), Name: src.Name, Version: v.String(), Path: path, Desc: desc}, nil
	}
	return nil, fmt.Errorf("%s holds no %s", zipName, binName)
}

// pickZip finds, in a SHA256SUMS file, the zip for this OS and
// architecture with a protocol version imgbuild speaks.
func pickZip(sums io.Reader, prefix string) (name, api, sum string, err error) {
	suffix := "_" + runtime.GOOS + "_" + runtime.GOARCH + ".zip"
	sc := bufio.NewScanner(sums)
	var seen []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 || !strings.HasPrefix(fields[1], prefix) || !strings.HasSuffix(fields[1], suffix) {
			continue
		}
		a := strings.TrimSuffix(strings.TrimPrefix(fields[1], prefix), suffix)
		seen = append(seen, a)
		if installed.CompatibleAPI(a) == nil {
			return fields[1], a, strings.ToLower(fields[0]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", "", err
	}
	if len(seen) > 0 {
		return "", "", "", fmt.Errorf("no release for plugin protocol %s (it has %v)", installed.APIVersion, seen)
	}
	return "", "", "", fmt.Errorf("no release for %s/%s", runtime.GOOS, runtime.GOARCH)
}

func (g *Getter) get(ctx context.Context, url string, api bool) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "imgbuild")
	if api {
		req.Header.Set("Accept", "application/vnd.github+json")
		if g.Token != "" {
			req.Header.Set("Authorization", "Bearer "+g.Token)
		}
	}
	resp, err := g.client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests {
			return nil, fmt.Errorf("GET %s: %s (GitHub's rate limit? set PACKER_GITHUB_API_TOKEN)", url, resp.Status)
		}
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}
