package ocicache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/wait"
)

// registry speaks the part of the OCI distribution API the cache needs:
// small manifests and blobs, tag lists and manifest deletion. Images
// themselves go through the Docker Engine (see Imager).
type registry struct {
	host  string // host[:port]
	repo  string // the repository's name
	base  string // http(s)://host/v2/repo
	creds Credentials
	http  *http.Client

	mu    sync.Mutex
	token string // the bearer token of a token-auth registry, once got
}

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

// manifestTypes is what the cache asks for: its own manifests are OCI
// ones, the engine pushes Docker's schema 2.
var manifestTypes = []string{ociManifest, "application/vnd.docker.distribution.manifest.v2+json"}

// errNotFound is a 404: an unknown tag, manifest, blob or repository.
var errNotFound = errors.New("not found")

// statusError is an answer the cache did not expect.
type statusError struct {
	method, path string
	code         int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s %s", e.method, e.path, e.code, http.StatusText(e.code), strings.TrimSpace(e.body))
}

func newRegistry(host, repo string, creds Credentials) *registry {
	return &registry{
		host:  host,
		repo:  repo,
		creds: creds,
		http:  &http.Client{Timeout: 2 * time.Minute},
	}
}

// connect finds the registry's scheme: HTTPS, or plain HTTP for a
// registry that does not speak TLS and that the Docker Engine, which
// pushes and pulls the images there, treats as insecure too.
func (r *registry) connect(ctx context.Context) error {
	r.base = "https://" + r.host + "/v2/" + r.repo
	_, err := r.do(ctx, http.MethodGet, "https://"+r.host+"/v2/", nil, "", nil, http.StatusOK)
	if err != nil && !isStatus(err) && plainHTTPAllowed(ctx, r.host) {
		r.base = "http://" + r.host + "/v2/" + r.repo
		_, err = r.do(ctx, http.MethodGet, "http://"+r.host+"/v2/", nil, "", nil, http.StatusOK)
	}
	if err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("registry %s speaks plain HTTP, and the Docker Engine does not trust it: add it to the engine's insecure-registries (daemon.json) to use it", r.host)
	}
	if err != nil {
		return fmt.Errorf("contacting registry %s: %w", r.host, err)
	}
	return nil
}

func isStatus(err error) bool {
	var se *statusError
	return errors.As(err, &se) || errors.Is(err, errNotFound)
}

// plainHTTPAllowed reports whether the Docker Engine treats host as an
// insecure registry: one on a loopback address (127.0.0.0/8 is insecure
// by default), or one its daemon.json names (insecure-registries).
func plainHTTPAllowed(ctx context.Context, host string) bool {
	if isLoopback(host) {
		return true
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return false
	}
	defer cli.Close()
	info, err := cli.Info(ctx)
	if err != nil || info.RegistryConfig == nil {
		return false
	}
	if ic := info.RegistryConfig.IndexConfigs[host]; ic != nil {
		return !ic.Secure
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", h)
	if err != nil {
		return false
	}
	for _, cidr := range info.RegistryConfig.InsecureRegistryCIDRs {
		for _, ip := range ips {
			if (*net.IPNet)(cidr).Contains(ip) {
				return true
			}
		}
	}
	return false
}

func isLoopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// do sends a request, answering the registry's authentication challenge
// once (basic, or a bearer token from its token service), and retries
// twice with backoff when the connection fails or the registry is busy
// (429, 5xx). body is replayed on each attempt. The response's body is
// read whole (the cache's objects are small); want lists the statuses
// that are success.
func (r *registry) do(ctx context.Context, method, rawURL string, body []byte, contentType string, header http.Header, want ...int) (*response, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			if err := wait.Sleep(ctx, time.Duration(attempt)*500*time.Millisecond); err != nil {
				return nil, last
			}
		}
		resp, err := r.once(ctx, method, rawURL, body, contentType, header)
		if err == nil && resp.code == http.StatusUnauthorized {
			if aerr := r.authenticate(ctx, resp.header.Get("WWW-Authenticate")); aerr != nil {
				return nil, aerr
			}
			resp, err = r.once(ctx, method, rawURL, body, contentType, header)
		}
		if err != nil {
			if ctx.Err() != nil || !retryable(err) {
				return nil, err
			}
			last = err
			continue
		}
		for _, w := range want {
			if resp.code == w {
				return resp, nil
			}
		}
		if resp.code == http.StatusNotFound {
			return nil, errNotFound
		}
		last = &statusError{method: method, path: strings.TrimPrefix(rawURL, r.base), code: resp.code, body: string(resp.body)}
		if resp.code != http.StatusTooManyRequests && resp.code < 500 {
			return nil, last
		}
	}
	return nil, last
}

// retryable: a connection refused is the registry being down, which
// waiting two seconds does not change; other network errors (reset,
// timeout, EOF) may be a moment's.
func retryable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return !strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

// maxBody bounds what the cache reads of any answer: its own objects
// are a few KiB.
const maxBody = 4 << 20

func (r *registry) once(ctx context.Context, method, rawURL string, body []byte, contentType string, header http.Header) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	r.mu.Lock()
	token := r.token
	r.mu.Unlock()
	switch {
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	case r.creds.Username != "":
		req.SetBasicAuth(r.creds.Username, r.creds.Password)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	return &response{code: resp.StatusCode, header: resp.Header, body: b}, nil
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// authenticate answers a 401: Basic needs the credentials (sent from
// now on); Bearer sends them to the token service named by the challenge
// and keeps the token it gives.
func (r *registry) authenticate(ctx context.Context, challenge string) error {
	scheme, params, _ := strings.Cut(challenge, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		if r.creds.Username == "" {
			return fmt.Errorf("registry %s asks for a login: run docker login %s (imgbuild reads docker's config.json)", r.host, r.host)
		}
		return fmt.Errorf("registry %s refused the login of %s from docker's config.json", r.host, r.creds.Username)
	case "bearer":
	default:
		return fmt.Errorf("registry %s asks for an authentication imgbuild does not speak (%q)", r.host, scheme)
	}
	p := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(params, -1) {
		p[m[1]] = m[2]
	}
	if p["realm"] == "" {
		return fmt.Errorf("registry %s asks for a token but names no token service", r.host)
	}
	scope := p["scope"]
	if scope == "" {
		scope = "repository:" + r.repo + ":pull,push,delete"
	}
	q := url.Values{"scope": {scope}}
	if p["service"] != "" {
		q.Set("service", p["service"])
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p["realm"]+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if r.creds.Username != "" {
		req.SetBasicAuth(r.creds.Username, r.creds.Password)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("getting a token for registry %s: %w", r.host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("getting a token for registry %s: %s (run docker login %s)", r.host, resp.Status, r.host)
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&tok); err != nil {
		return fmt.Errorf("reading the token of registry %s: %w", r.host, err)
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken
	}
	r.mu.Lock()
	r.token = tok.Token
	r.mu.Unlock()
	return nil
}

// descriptor names a blob or manifest by digest.
type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// manifest is an OCI image manifest; the cache writes ones whose config
// is its own small JSON and whose annotations carry times.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

var validDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// putBlob stores b unless the registry has it (monolithic upload).
func (r *registry) putBlob(ctx context.Context, mediaType string, b []byte) (descriptor, error) {
	d := descriptor{MediaType: mediaType, Digest: cache.Digest(b), Size: int64(len(b))}
	if _, err := r.do(ctx, http.MethodHead, r.base+"/blobs/"+d.Digest, nil, "", nil, http.StatusOK); err == nil {
		return d, nil
	} else if !errors.Is(err, errNotFound) {
		return d, fmt.Errorf("looking for blob %s: %w", d.Digest, err)
	}
	resp, err := r.do(ctx, http.MethodPost, r.base+"/blobs/uploads/", nil, "", nil, http.StatusAccepted)
	if err != nil {
		return d, fmt.Errorf("starting an upload: %w", err)
	}
	loc, err := url.Parse(resp.header.Get("Location"))
	if err != nil || resp.header.Get("Location") == "" {
		return d, fmt.Errorf("starting an upload: the registry gave no upload location")
	}
	loc = mustParse(r.base).ResolveReference(loc)
	q := loc.Query()
	q.Set("digest", d.Digest)
	loc.RawQuery = q.Encode()
	if _, err := r.do(ctx, http.MethodPut, loc.String(), b, "application/octet-stream", nil, http.StatusCreated); err != nil {
		return d, fmt.Errorf("uploading blob %s: %w", d.Digest, err)
	}
	return d, nil
}

func mustParse(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}

// getBlob reads a small blob and checks it against its digest.
func (r *registry) getBlob(ctx context.Context, d descriptor) ([]byte, error) {
	if !validDigest.MatchString(d.Digest) || d.Size > maxBody {
		return nil, fmt.Errorf("%w: a manifest names blob %q of %d bytes", ErrCorrupt, d.Digest, d.Size)
	}
	resp, err := r.do(ctx, http.MethodGet, r.base+"/blobs/"+d.Digest, nil, "", nil, http.StatusOK)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("%w: blob %s is missing", ErrCorrupt, d.Digest)
	}
	if err != nil {
		return nil, err
	}
	if got := cache.Digest(resp.body); got != d.Digest {
		return nil, fmt.Errorf("%w: blob %s holds content with digest %s", ErrCorrupt, d.Digest, got)
	}
	return resp.body, nil
}

// putManifest stores m under ref (a tag or a digest) and returns its digest.
func (r *registry) putManifest(ctx context.Context, ref string, m manifest) (string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	if _, err := r.do(ctx, http.MethodPut, r.base+"/manifests/"+ref, b, m.MediaType, nil, http.StatusCreated); err != nil {
		return "", fmt.Errorf("writing manifest %s: %w", ref, err)
	}
	return cache.Digest(b), nil
}

// getManifest reads the manifest that ref names, with its digest;
// errNotFound when there is none.
func (r *registry) getManifest(ctx context.Context, ref string) (manifest, string, error) {
	h := http.Header{"Accept": manifestTypes}
	resp, err := r.do(ctx, http.MethodGet, r.base+"/manifests/"+ref, nil, "", h, http.StatusOK)
	if err != nil {
		return manifest{}, "", err
	}
	var m manifest
	if err := json.Unmarshal(resp.body, &m); err != nil {
		return manifest{}, "", fmt.Errorf("%w: manifest %s does not read: %v", ErrCorrupt, ref, err)
	}
	return m, cache.Digest(resp.body), nil
}

// hasManifest reports whether ref names a manifest.
func (r *registry) hasManifest(ctx context.Context, ref string) (bool, error) {
	h := http.Header{"Accept": manifestTypes}
	_, err := r.do(ctx, http.MethodHead, r.base+"/manifests/"+ref, nil, "", h, http.StatusOK)
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	return err == nil, err
}

// deleteManifest removes a manifest by digest, and with it every tag that
// names it. One already gone is not an error.
func (r *registry) deleteManifest(ctx context.Context, digest string) error {
	_, err := r.do(ctx, http.MethodDelete, r.base+"/manifests/"+digest, nil, "", nil, http.StatusAccepted, http.StatusOK)
	if errors.Is(err, errNotFound) {
		return nil
	}
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusMethodNotAllowed {
		return fmt.Errorf("registry %s does not allow deleting (docker-registry: storage: delete: enabled: true)", r.host)
	}
	return err
}

// tags lists the repository's tags, following the registry's pages; an
// unknown repository has none.
func (r *registry) tags(ctx context.Context) ([]string, error) {
	var all []string
	next := r.base + "/tags/list?n=1000"
	for next != "" {
		resp, err := r.do(ctx, http.MethodGet, next, nil, "", nil, http.StatusOK)
		if errors.Is(err, errNotFound) {
			return all, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing tags: %w", err)
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(resp.body, &page); err != nil {
			return nil, fmt.Errorf("listing tags: %w", err)
		}
		all = append(all, page.Tags...)
		next = ""
		// Link: </v2/repo/tags/list?last=x&n=1000>; rel="next"
		if l := resp.header.Get("Link"); strings.Contains(l, `rel="next"`) {
			if i, j := strings.Index(l, "<"), strings.Index(l, ">"); i >= 0 && j > i {
				if u, err := url.Parse(l[i+1 : j]); err == nil {
					next = mustParse(r.base).ResolveReference(u).String()
				}
			}
		}
	}
	return all, nil
}
