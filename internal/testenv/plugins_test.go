package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type pluginDescription struct {
	Version    string   `json:"version"`
	APIVersion string   `json:"api_version"`
	Builders   []string `json:"builders"`
}

func describePlugin(t *testing.T, path string) pluginDescription {
	t.Helper()
	out, err := exec.Command(path, "describe").Output()
	if err != nil {
		t.Fatalf("%s describe: %v", path, err)
	}
	var d pluginDescription
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("%s describe printed %q: %v", path, out, err)
	}
	return d
}

func TestEveryListedPackerPluginIsBuiltAndSpeaksProtocolX50AtItsListedVersion(t *testing.T) {
	names := PackerPluginNames()
	if len(names) == 0 {
		t.Fatal("testdata/packer-plugins.txt lists no plugins")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			d := describePlugin(t, PackerPlugin(t, name))
			if d.APIVersion != PluginAPIVersion {
				t.Errorf("api_version = %q, want %q", d.APIVersion, PluginAPIVersion)
			}
			// Built without release ldflags, some report VERSION-dev, as
			// in the builds the compat corpus was judged with.
			if want := PackerPluginVersion(name); d.Version != want && d.Version != want+"-dev" {
				t.Errorf("version = %q, want %q", d.Version, want)
			}
		})
	}
}

func TestPluginDirHoldsPluginsInPackersLayoutWithTheirChecksumsAndGoesAway(t *testing.T) {
	var dir string
	t.Run("use", func(t *testing.T) {
		dir = PluginDir(t, "docker", "vagrant")
		for _, name := range []string{"docker", "vagrant"} {
			bin := filepath.Join(dir, "github.com", "hashicorp", name,
				"packer-plugin-"+name+"_v"+PackerPluginVersion(name)+"_x5.0_linux_amd64")
			data, err := os.ReadFile(bin)
			if err != nil {
				t.Fatalf("plugin %s not in the layout: %v", name, err)
			}
			sum := sha256.Sum256(data)
			got, err := os.ReadFile(bin + "_SHA256SUM")
			if err != nil {
				t.Fatalf("no checksum file for %s: %v", name, err)
			}
			if string(got) != hex.EncodeToString(sum[:]) {
				t.Errorf("%s_SHA256SUM = %q, want the binary's hex SHA-256 %x", name, got, sum)
			}
			if d := describePlugin(t, bin); !strings.HasPrefix(d.Version, PackerPluginVersion(name)) {
				t.Errorf("installed %s describes itself as version %q", name, d.Version)
			}
		}
		entries, _ := os.ReadDir(filepath.Join(dir, "github.com", "hashicorp"))
		if len(entries) != 2 {
			t.Errorf("plugin folder holds %d plugins, want the 2 asked for", len(entries))
		}
	})
	if dir == "" {
		return // skipped: plugins not built
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("plugin folder %s still exists after the test (err %v)", dir, err)
	}
	if _, err := os.Stat(PackerPlugin(t, "docker")); err != nil {
		t.Errorf("removing the plugin folder removed the cached binary: %v", err)
	}
}
