package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// The plugins ../shared/compat-plugins was judged with (qemu is served
// natively here, as amazon-ebs and docker are).
var compatPlugins = []string{"amazon", "ansible", "azure", "docker", "googlecompute", "vsphere"}

// TestValidateGivesPackersVerdictOnThePluginCompatCorpus runs `validate
// -syntax-only` and `validate` on ../shared/compat-plugins, the real
// templates that use external plugins, in the environment its README
// describes: the plugins installed in ~/.packer.d/plugins both as legacy
// single binaries and in the layout with checksums, ansible-playbook on
// PATH, dummy AWS credentials, no network. The exit status must be Packer
// 1.9.4's.
func TestValidateGivesPackersVerdictOnThePluginCompatCorpus(t *testing.T) {
	dir, entries := compatCorpus(t, "compat-plugins")
	installCompatPlugins(t)
	checkCompatVerdicts(t, dir, entries)
}

// installCompatPlugins sets up the environment the plugin and JSON
// corpora were judged in: the plugins in ~/.packer.d/plugins both as
// legacy single binaries and in the layout with checksums,
// ansible-playbook on PATH, dummy AWS credentials.
func installCompatPlugins(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	plugins := filepath.Join(home, ".packer.d", "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	layout := testenv.PluginDir(t, compatPlugins...)
	if err := os.Symlink(filepath.Join(layout, "github.com"), filepath.Join(plugins, "github.com")); err != nil {
		t.Fatal(err)
	}
	for _, name := range compatPlugins {
		if err := os.Symlink(testenv.PackerPlugin(t, name), filepath.Join(plugins, "packer-plugin-"+name)); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{
		"HOME": home, "XDG_CONFIG_HOME": "", "XDG_CACHE_HOME": filepath.Join(home, ".cache"),
		"PACKER_PLUGIN_PATH": "", "PACKER_CONFIG_DIR": "",
		"PATH":               testenv.Ansible(t) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"CHECKPOINT_DISABLE": "1", "PACKER_LOG": "0",
		"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example", "AWS_REGION": "us-east-1",
	} {
		t.Setenv(k, v)
	}
}
