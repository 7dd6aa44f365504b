package testenv

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// PluginAPIVersion is the plugin protocol version of every plugin the
// set-up builds, as it appears in installed file names.
const PluginAPIVersion = "x5.0"

var (
	pluginVersionsOnce sync.Once
	pluginVersions     map[string]string
	pluginVersionsErr  error
)

// PackerPluginVersion returns the version of HashiCorp's Packer plugin name
// ("ansible", "vsphere", ...) that the tests use, as listed in
// testdata/packer-plugins.txt, or "" when the list has no such plugin.
func PackerPluginVersion(name string) string {
	pluginVersionsOnce.Do(func() {
		pluginVersions, pluginVersionsErr = readPluginList(filepath.Join(RepoRoot(), "testdata", "packer-plugins.txt"))
	})
	return pluginVersions[name]
}

// PackerPluginNames lists the plugins of testdata/packer-plugins.txt.
func PackerPluginNames() []string {
	PackerPluginVersion("")
	names := make([]string, 0, len(pluginVersions))
	for n := range pluginVersions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func readPluginList(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	versions := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		versions[fields[0]] = fields[1]
	}
	return versions, sc.Err()
}

// PackerPlugin returns the path of the built binary of HashiCorp's Packer
// plugin name at the version PackerPluginVersion gives, as
// testdata/packer-plugins.sh caches it, or calls Unavailable when it has
// not been built. The file is shared by every test: never write to it.
func PackerPlugin(t testing.TB, name string) string {
	t.Helper()
	version := PackerPluginVersion(name)
	if pluginVersionsErr != nil {
		t.Fatalf("reading testdata/packer-plugins.txt: %v", pluginVersionsErr)
	}
	if version == "" {
		t.Fatalf("testenv: no Packer plugin %q in testdata/packer-plugins.txt (add it there, the set-up builds it)", name)
	}
	path := filepath.Join(StateDir(), "packer-plugins", name, version, "packer-plugin-"+name)
	if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
		Unavailable(t, fmt.Sprintf("packer-plugin-%s %s is not built at %s (testdata/packer-plugins.sh builds it)", name, version, path))
	}
	return path
}

// InstalledPluginName is the file name Packer gives plugin name at version
// in its plugin directory: packer-plugin-NAME_vVERSION_x5.0_OS_ARCH.
func InstalledPluginName(name, version string) string {
	return fmt.Sprintf("packer-plugin-%s_v%s_%s_%s_%s", name, version, PluginAPIVersion, runtime.GOOS, runtime.GOARCH)
}

// PluginDir returns a new folder, removed when the test ends, laid out as
// Packer's plugin directory after `packer init` installed the named plugins:
//
//	github.com/hashicorp/NAME/packer-plugin-NAME_vVERSION_x5.0_linux_amd64
//	github.com/hashicorp/NAME/packer-plugin-NAME_vVERSION_x5.0_linux_amd64_SHA256SUM
//
// where the _SHA256SUM file holds the binary's SHA-256 in hex, as Packer
// writes it. Point PACKER_PLUGIN_PATH at the folder (or use it as
// PACKER_CONFIG_DIR's plugins folder). The binaries are hard links to the
// shared cache where possible: to test a tampered binary, replace the file
// (write another and rename it over), never write into it.
func PluginDir(t testing.TB, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		src := PackerPlugin(t, name)
		sum, err := fileSHA256(src)
		if err != nil {
			t.Fatalf("hashing %s: %v", src, err)
		}
		folder := filepath.Join(dir, "github.com", "hashicorp", name)
		if err := os.MkdirAll(folder, 0o755); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(folder, InstalledPluginName(name, PackerPluginVersion(name)))
		if err := linkOrCopy(src, dst); err != nil {
			t.Fatalf("installing %s into the plugin folder: %v", name, err)
		}
		if err := os.WriteFile(dst+"_SHA256SUM", []byte(sum), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The hashes of the cached binaries, computed once per test process
// (the biggest is about 90 MB).
var pluginSums sync.Map // path + size + mtime -> hex string

func fileSHA256(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", path, st.Size(), st.ModTime().UnixNano())
	if s, ok := pluginSums.Load(key); ok {
		return s.(string), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	pluginSums.Store(key, sum)
	return sum, nil
}

// linkOrCopy hard-links src to dst, or copies it (with its mode) when they
// are on different file systems.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
