package ocicache

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestParseURLNamesTheRegistryAndTheRepository(t *testing.T) {
	for _, tc := range []struct {
		raw, host, repo, err string
	}{
		{"oci://127.0.0.1:5000/cache", "127.0.0.1:5000", "cache", ""},
		{"oci://registry.example.com/team/ci-cache/", "registry.example.com", "team/ci-cache", ""},
		{"oci://127.0.0.1:5000", "", "", "names no repository"},
		{"oci://127.0.0.1:5000/Team", "", "", "is not a repository name"},
		{"oci://127.0.0.1:5000/a//b", "", "", "is not a repository name"},
		{"oci://user:pw@host/cache", "", "", "is not an oci://host:port/repository URL"},
		{"s3://bucket/prefix", "", "", "is not an oci://host:port/repository URL"},
	} {
		host, repo, err := ParseURL(tc.raw)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) = %q, %q, %v; want an error saying %q", tc.raw, host, repo, err, tc.err)
			}
			continue
		}
		if err != nil || host != tc.host || repo != tc.repo {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", tc.raw, host, repo, err, tc.host, tc.repo)
		}
	}
}

// testUI records what the cache reports.
type testUI struct {
	mu   sync.Mutex
	msgs []string
}

func (u *testUI) Message(m string) { u.mu.Lock(); u.msgs = append(u.msgs, m); u.mu.Unlock() }
func (u *testUI) Error(m string)   { u.Message("!! " + m) }
func (u *testUI) count(s string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, m := range u.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

func open(t *testing.T, url string, write bool) *Cache {
	t.Helper()
	c, err := Open(context.Background(), url, write, "test")
	if err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	return c
}

// The first runner makes the salt; every other reads the same one, and a
// read-only runner on a new cache makes none.
func TestRunnersShareTheSaltTheFirstOneMade(t *testing.T) {
	reg := testenv.UseRegistry(t)
	ctx := context.Background()
	if salt, err := open(t, reg.URL(), false).Salt(ctx, false); err != nil || salt != nil {
		t.Fatalf("read-only Salt on a new cache = %x, %v; want none", salt, err)
	}
	first, err := open(t, reg.URL(), true).Salt(ctx, true)
	if err != nil || len(first) != 32 {
		t.Fatalf("first runner's salt = %x, %v; want 32 bytes", first, err)
	}
	for _, write := range []bool{true, false} {
		got, err := open(t, reg.URL(), write).Salt(ctx, write)
		if err != nil || string(got) != string(first) {
			t.Errorf("another runner (write %v) reads salt %x, %v; want the first's %x", write, got, err, first)
		}
	}
}

func testKey(b byte) cache.Key { return cache.Key(strings.Repeat(string(rune(b)), 64)) }

// A qemu checkpoint has no way into a registry: it stays local, said once
// however many builds push, and nothing is written.
func TestCheckpointsOfABuilderWithoutAnImagerStayLocalWithOneMessage(t *testing.T) {
	reg := testenv.UseRegistry(t)
	local, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys := []cache.Key{testKey('a'), testKey('b')}
	for i, k := range keys {
		if err := local.Put(cache.Entry{Key: k, Step: i + 1, Builder: "qemu", Ref: "/nowhere/" + string(k)}); err != nil {
			t.Fatal(err)
		}
	}
	c := open(t, reg.URL(), true)
	u := &testUI{}
	c.Push(context.Background(), local, keys, u)
	c.Push(context.Background(), local, keys, u)
	if n := u.count("checkpoints stay in the local cache"); n != 1 || len(u.msgs) != 1 {
		t.Errorf("said %d times that qemu checkpoints stay local, want once; said %q", n, u.msgs)
	}
	if tags, err := reg.Tags(); err != nil || len(tags) != 0 {
		t.Errorf("the registry holds %v (%v), want nothing", tags, err)
	}
}

// refusingImager fails the test if the cache asks it for anything.
type refusingImager struct{ t *testing.T }

func (r refusingImager) PushImage(context.Context, cache.Entry, string, dockerengine.Login) (string, error) {
	r.t.Error("PushImage called")
	return "", nil
}

func (r refusingImager) PullImage(context.Context, cache.Entry, string, string, dockerengine.Login) (string, error) {
	r.t.Error("PullImage called for an entry whose image is gone")
	return "", nil
}

// An entry whose image was deleted (by hand, or by a prune racing with
// this build) is reported once, skipped and removed, so that the step is
// built and stored again; the cache stays on.
func TestAnEntryWhoseImageIsGoneIsReportedSkippedAndRemoved(t *testing.T) {
	reg := testenv.UseRegistry(t)
	RegisterImager("test-gone", refusingImager{t})
	ctx := context.Background()
	c := open(t, reg.URL(), true)
	k := testKey('c')
	b, _ := json.Marshal(Meta{Entry: cache.Entry{Key: k, Step: 1, StepName: "shell", Builder: "test-gone", Ref: "sha256:" + strings.Repeat("1", 64)},
		Image: "sha256:" + strings.Repeat("2", 64), Version: "test"})
	d, err := c.reg.putBlob(ctx, metaType, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.reg.putManifest(ctx, string(k)+metaSuffix, manifest{SchemaVersion: 2, MediaType: ociManifest, Config: d, Layers: []descriptor{}}); err != nil {
		t.Fatal(err)
	}
	local, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	u := &testUI{}
	if n := c.Pull(ctx, local, []cache.Key{k}, 0, u); n != 0 {
		t.Errorf("Pull restored %d steps from an entry without its image", n)
	}
	if n := u.count("is damaged and is not used"); n != 1 || u.count("!! ") != 1 {
		t.Errorf("reported %q, want one warning that the checkpoint is damaged", u.msgs)
	}
	if !c.on() {
		t.Error("a damaged entry turned the cache off")
	}
	if tags, err := reg.Tags(); err != nil || len(tags) != 0 {
		t.Errorf("the damaged entry is still there: tags %v (%v)", tags, err)
	}
}

// A registry that wants a login gets the one `docker login` stored in
// docker's config.json or in the credential helper it names; without it,
// the error says to log in and never shows a password.
func TestTheLoginInDockersConfigReachesARegistryThatWantsOne(t *testing.T) {
	addr := enginetest.AuthRegistryAddr
	if resp, err := http.Get("http://" + addr + "/v2/"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		testenv.Unavailable(t, "the test registry with a login does not answer on "+addr)
		return
	} else {
		resp.Body.Close()
	}
	url := "oci://" + addr + "/" + enginetest.Unique("imgbuild-test-login-")

	login := func(password string) {
		dir := t.TempDir()
		t.Setenv("DOCKER_CONFIG", dir)
		auth := base64.StdEncoding.EncodeToString([]byte(enginetest.AuthRegistryUser + ":" + password))
		cfg := `{"auths": {"http://` + addr + `": {"auth": "` + auth + `"}}}`
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Setenv("DOCKER_CONFIG", t.TempDir())
	_, err := Open(context.Background(), url, true, "test")
	if err == nil || !strings.Contains(err.Error(), "docker login "+addr) {
		t.Errorf("without a login: %v; want an error saying to run docker login %s", err, addr)
	}
	const wrong = "not-the-password-7Qx"
	login(wrong)
	_, err = Open(context.Background(), url, true, "test")
	if err == nil || !strings.Contains(err.Error(), "refused the login of "+enginetest.AuthRegistryUser) || strings.Contains(err.Error(), wrong) {
		t.Errorf("with a wrong password: %v; want a refusal that does not show the password", err)
	}

	// A credential helper (credsStore), as docker login with a keychain
	// leaves it: the config names the helper, the helper has the login.
	helpers := t.TempDir()
	script := "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = " + addr + " ]; then\n" +
		"  echo '{\"ServerURL\":\"" + addr + "\",\"Username\":\"" + enginetest.AuthRegistryUser + "\",\"Secret\":\"" + enginetest.AuthRegistryPassword + "\"}'\n" +
		"else echo 'credentials not found in native keychain'; exit 1; fi\n"
	if err := os.WriteFile(filepath.Join(helpers, "docker-credential-imgbuild-test"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", helpers+string(os.PathListSeparator)+os.Getenv("PATH"))
	storeDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", storeDir)
	if err := os.WriteFile(filepath.Join(storeDir, "config.json"), []byte(`{"auths": {"`+addr+`": {}}, "credsStore": "imgbuild-test"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), url, true, "test"); err != nil {
		t.Errorf("with the login in a credential helper: %v", err)
	}

	login(enginetest.AuthRegistryPassword)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := open(t, url, true)
	salt, err := c.Salt(ctx, true)
	if err != nil || len(salt) != 32 {
		t.Fatalf("with docker's login: salt %x, %v", salt, err)
	}
	_, d, err := c.reg.getManifest(ctx, saltTag)
	if err == nil {
		err = c.reg.deleteManifest(ctx, d)
	}
	if err != nil {
		t.Errorf("removing the test's salt: %v", err)
	}
}

// faultyProxy stands in front of the test registry: it answers the first
// manifest write with 503 (a registry that throttles) and resets the
// connection of the first blob read (a dropped connection).
type faultyProxy struct {
	mu                     sync.Mutex
	manifestPuts, blobGets int
}

func (p *faultyProxy) start(t *testing.T) string {
	t.Helper()
	target, _ := neturl.Parse("http://" + testenv.RegistryAddr)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p.mu.Lock()
		var throttle, drop bool
		switch {
		case req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/"):
			p.manifestPuts++
			throttle = p.manifestPuts == 1
		case req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/"):
			p.blobGets++
			drop = p.blobGets == 1
		}
		p.mu.Unlock()
		switch {
		case throttle:
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS"}]}`, http.StatusServiceUnavailable)
		case drop:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0) // a reset, not a clean close
				conn.Close()
			}
		default:
			rp.ServeHTTP(w, req)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// A throttled write and a dropped read are retried: the cache is made and
// read as if nothing happened.
func TestAThrottledWriteAndADroppedReadAreRetried(t *testing.T) {
	reg := testenv.UseRegistry(t) // emptied after, though written through the proxy
	p := &faultyProxy{}
	addr := p.start(t)
	c := open(t, "oci://"+addr+"/"+reg.Repo, true)
	salt, err := c.Salt(context.Background(), true)
	if err != nil || len(salt) != 32 {
		t.Fatalf("Salt through a faulty registry = %x, %v; want 32 bytes", salt, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.manifestPuts != 2 || p.blobGets < 2 {
		t.Errorf("%d manifest writes and %d blob reads reached the proxy; want 2 writes (one throttled) and at least 2 reads (one dropped)", p.manifestPuts, p.blobGets)
	}
}

// A registry off loopback that speaks plain HTTP is used only where the
// Docker Engine, which pushes and pulls there, trusts it too: by default
// it does not, and the error says what to change.
func TestAPlainHTTPRegistryTheEngineDoesNotTrustIsRefused(t *testing.T) {
	ip := bridgeAddress(t)
	reg, _ := testenv.StartRegistryAt(t, ip)
	if plainHTTPAllowed(context.Background(), reg.Addr) {
		testenv.Unavailable(t, "the Docker Engine trusts "+reg.Addr+" (insecure-registries); this test needs its defaults")
		return
	}
	_, err := Open(context.Background(), reg.URL(), true, "test")
	if err == nil || !strings.Contains(err.Error(), "insecure-registries") {
		t.Errorf("opening plain-HTTP %s: %v; want a refusal naming insecure-registries", reg.URL(), err)
	}
}

// bridgeAddress is an IPv4 address of this machine off loopback (the
// Docker bridge's).
func bridgeAddress(t *testing.T) string {
	t.Helper()
	ifc, err := net.InterfaceByName("docker0")
	if err == nil {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	testenv.Unavailable(t, "no docker0 bridge address (is dockerd running?)")
	return ""
}
