package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Registry is a repository of the test's own in a registry (the set-up's
// docker-registry on RegistryAddr, or one the test started): open, or
// with a basic-auth login.
type Registry struct {
	Addr string // host:port
	Repo string
	// User and Password, when set, log in to the registry's API.
	User, Password string
}

// do sends req with the registry's login, if it has one.
func (r Registry) do(req *http.Request) (*http.Response, error) {
	if r.User != "" {
		req.SetBasicAuth(r.User, r.Password)
	}
	return http.DefaultClient.Do(req)
}

// URL is oci://<addr>/<repo>, the shared cache's URL for it.
func (r Registry) URL() string { return "oci://" + r.Addr + "/" + r.Repo }

// Name is <addr>/<repo>, as docker names images in it.
func (r Registry) Name() string { return r.Addr + "/" + r.Repo }

// UseRegistry gives the test a fresh repository in the set-up's open
// registry; every manifest in it is deleted when the test ends (the
// registry frees their layers in its own garbage collection). When the
// registry does not answer it calls Unavailable.
func UseRegistry(t testing.TB) Registry {
	t.Helper()
	resp, err := http.Get("http://" + RegistryAddr + "/v2/")
	if err != nil {
		Unavailable(t, "the test registry does not answer on "+RegistryAddr+": "+err.Error())
		return Registry{}
	}
	resp.Body.Close()
	r := Registry{Addr: RegistryAddr, Repo: "imgbuild-test-" + randomHex(6)}
	t.Cleanup(func() {
		if err := r.Empty(); err != nil {
			t.Errorf("emptying test repository %s: %v", r.Name(), err)
		}
	})
	return r
}

// StartRegistry starts an open docker-registry of the test's own on a
// free loopback port (content in a temporary folder) and returns a
// repository in it and a function that stops it (for tests of a registry
// that goes away); it is stopped when the test ends in any case.
func StartRegistry(t testing.TB) (Registry, func()) {
	t.Helper()
	return StartRegistryAt(t, "127.0.0.1")
}

// StartRegistryAt is StartRegistry on another address of this machine
// (for a registry that is not on loopback).
func StartRegistryAt(t testing.TB, ip string) (Registry, func()) {
	t.Helper()
	bin := NeedCommand(t, "docker-registry")
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "registry.yml")
	yml := fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	stop := startServer(t, cmd, "docker-registry on "+addr, func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return Registry{Addr: addr, Repo: "imgbuild-test-" + randomHex(6)}, stop
}

// Tags lists the repository's tags.
func (r Registry) Tags() ([]string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+r.Addr+"/v2/"+r.Repo+"/tags/list", nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	var page struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, err
	}
	return page.Tags, nil
}

// Empty deletes the manifest of every tag in the repository.
func (r Registry) Empty() error {
	tags, err := r.Tags()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tag := range tags {
		base := "http://" + r.Addr + "/v2/" + r.Repo + "/manifests/"
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, base+tag, nil)
		req.Header["Accept"] = []string{"application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"}
		resp, err := r.do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		digest := resp.Header.Get("Docker-Content-Digest")
		if resp.StatusCode == http.StatusNotFound || digest == "" {
			continue
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodDelete, base+digest, nil)
		resp, err = r.do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("deleting %s:%s: %s", r.Name(), tag, resp.Status)
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
