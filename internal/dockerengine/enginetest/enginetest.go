// Package enginetest helps the docker builder's and post-processors'
// end-to-end tests: it finds the local engine (or skips), records what a
// plugin shows, and removes the images a test made.
package enginetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// The registry with basic auth that scripts/test-setup.sh (setup_registry)
// starts, and its test-only login.
const (
	AuthRegistryAddr     = "127.0.0.1:5001"
	AuthRegistryUser     = "imgbuild"
	AuthRegistryPassword = "imgbuild-registry-pw-4Kd"
)

// The same registry under the name of moto's ECR registry (the set-up
// maps it to 127.0.0.1 in /etc/hosts), and the login moto's ECR hands
// out for it, which the registry takes too.
const (
	ECRRegistryHost     = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	ECRRegistryAddr     = ECRRegistryHost + ":5001"
	ECRRegistryUser     = "AWS"
	ECRRegistryPassword = "123456789012-auth-token"
)

// NeedECRRegistry checks that the auth registry answers under
// ECRRegistryAddr, or calls testenv.Unavailable.
func NeedECRRegistry(t testing.TB) {
	t.Helper()
	addrs, err := net.LookupHost(ECRRegistryHost)
	if err != nil || len(addrs) == 0 || addrs[0] != "127.0.0.1" {
		testenv.Unavailable(t, ECRRegistryHost+" does not resolve to 127.0.0.1 (scripts/test-setup.sh adds it to /etc/hosts)")
		return
	}
	resp, err := http.Get("http://" + ECRRegistryAddr + "/v2/")
	if err != nil {
		testenv.Unavailable(t, "no registry with login on "+ECRRegistryAddr+": "+err.Error())
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		testenv.Unavailable(t, "the registry on "+ECRRegistryAddr+" does not ask for a login")
	}
}

// NeedEngine returns a client for the local engine that has the base
// image, or skips the test (fails it under IMGBUILD_E2E=1).
func NeedEngine(t testing.TB) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	cli, err := dockerengine.Connect(context.Background())
	if err != nil {
		testenv.Unavailable(t, "the Docker engine is not reachable: "+err.Error())
		return nil
	}
	t.Cleanup(func() { cli.Close() })
	if _, err := cli.ImageInspect(context.Background(), testenv.BaseImage); err != nil {
		testenv.Unavailable(t, "the base image "+testenv.BaseImage+" is missing")
	}
	return cli
}

// Unique returns prefix with a random suffix, for names tests create.
func Unique(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// RemoveImage removes ref (an id or a name) when the test ends.
func RemoveImage(t testing.TB, cli *client.Client, ref string) {
	t.Helper()
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
}

// UI records what a plugin shows, and logs it to the test.
type UI struct {
	T     testing.TB
	mu    sync.Mutex
	lines []string
}

var _ plugin.UI = (*UI)(nil)

func (u *UI) add(prefix, msg string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		u.lines = append(u.lines, prefix+l)
	}
	if u.T != nil {
		u.T.Log(prefix + msg)
	}
}

func (u *UI) Say(msg string)     { u.add("==> ", msg) }
func (u *UI) Message(msg string) { u.add("    ", msg) }
func (u *UI) Error(msg string)   { u.add("!!! ", msg) }
func (u *UI) Stdout() plugin.WriteCloser {
	return &lineWriter{say: func(s string) { u.add("out ", s) }}
}
func (u *UI) Stderr() plugin.WriteCloser {
	return &lineWriter{say: func(s string) { u.add("err ", s) }}
}
func (u *UI) TrackProgress(_ string, _ int64, r plugin.ReadCloser) plugin.ReadCloser { return r }

// Text returns every line shown so far.
func (u *UI) Text() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return strings.Join(u.lines, "\n")
}

type lineWriter struct {
	say func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.say(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) Close() error {
	if len(w.buf) > 0 {
		w.say(string(w.buf))
		w.buf = nil
	}
	return nil
}

// Env returns a post-processor environment that shows on ui.
func Env(ui plugin.UI) *plugin.PostProcessEnv {
	return &plugin.PostProcessEnv{UI: ui, FullName: "docker.test", SourceType: "docker", SourceName: "test"}
}
