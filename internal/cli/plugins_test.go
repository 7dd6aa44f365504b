package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/pluginhost/releases"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// isolatePlugins gives the test its own plugin folder (returned), home and
// cache, and points release downloads at a server that is not there, as
// on a machine without network access.
func isolatePlugins(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("PACKER_PLUGIN_PATH", dir)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	srv := httptest.NewServer(http.NotFoundHandler())
	gone := srv.URL
	srv.Close()
	old := newReleaseGetter
	newReleaseGetter = func() *releases.Getter { return &releases.Getter{API: gone, Download: gone} }
	t.Cleanup(func() { newReleaseGetter = old })
	return dir
}

const requiresDockerAndAnsible = `
packer {
  required_plugins {
    mydocker = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/docker"
    }
    ansible = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/ansible"
    }
  }
}
`

func TestPluginsInstallListRequireAndRemoveAPluginBinary(t *testing.T) {
	dir := isolatePlugins(t)
	bin := testenv.PackerPlugin(t, "docker")
	code, out, errOut := run(t, "", "plugins", "install", "--path", bin, "github.com/hashicorp/docker")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	installedPath := strings.TrimSpace(out[strings.LastIndex(out, " in ")+4:])
	if !strings.HasPrefix(installedPath, filepath.Join(dir, "github.com", "hashicorp", "docker", "packer-plugin-docker_v")) {
		t.Fatalf("install said %q", out)
	}
	if _, err := os.Stat(installedPath + "_SHA256SUM"); err != nil {
		t.Errorf("no checksum file: %v", err)
	}
	if code, out, _ := run(t, "", "plugins", "installed"); code != 0 || strings.TrimSpace(out) != installedPath {
		t.Errorf("installed: exit %d, %q, want %q", code, out, installedPath)
	}
	tmpl := writeTemplate(t, map[string]string{"main.pkr.hcl": requiresDockerAndAnsible})
	code, out, _ = run(t, "", "plugins", "required", tmpl)
	if code != 0 || !strings.Contains(out, `mydocker github.com/hashicorp/docker ">= 1.0.0" `+installedPath) || !strings.Contains(out, `ansible github.com/hashicorp/ansible ">= 1.0.0"`) {
		t.Errorf("required: exit %d:\n%s", code, out)
	}
	if code, _, errOut := run(t, "", "plugins", "install", "--path", testenv.NeedCommand(t, "true"), "github.com/hashicorp/true"); code == 0 || !strings.Contains(errOut, "not a Packer plugin") {
		t.Errorf("installing a non-plugin: exit %d, %q", code, errOut)
	}
	if code, out, _ := run(t, "", "plugins", "remove", "github.com/hashicorp/docker"); code != 0 || strings.TrimSpace(out) != installedPath {
		t.Errorf("remove: exit %d, %q", code, out)
	}
	if code, out, _ := run(t, "", "plugins", "installed"); code != 0 || out != "" {
		t.Errorf("after remove: exit %d, %q", code, out)
	}
	if code, _, errOut := run(t, "", "plugins", "remove", "github.com/hashicorp/docker"); code == 0 || !strings.Contains(errOut, "no installed plugin") {
		t.Errorf("removing again: exit %d, %q", code, errOut)
	}
}

func TestInitOfflineNamesEachMissingPluginAndHowToInstallIt(t *testing.T) {
	isolatePlugins(t)
	tmpl := writeTemplate(t, map[string]string{"main.pkr.hcl": requiresDockerAndAnsible})
	code, out, errOut := run(t, "", "init", tmpl)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "github.com/hashicorp/docker is built into imgbuild") {
		t.Errorf("stdout does not say docker is built in: %q", out)
	}
	for _, want := range []string{"Could not reach GitHub", "* github.com/hashicorp/ansible >= 1.0.0", "imgbuild plugins install --path ./packer-plugin-ansible_vVERSION_x5.0_"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	if code, _, errOut := run(t, "", "plugins", "install", "--path", testenv.PackerPlugin(t, "ansible"), "github.com/hashicorp/ansible"); code != 0 {
		t.Fatalf("install: %s", errOut)
	}
	code, out, errOut = run(t, "", "init", tmpl)
	if code != 0 || !strings.Contains(out, "github.com/hashicorp/ansible v") || !strings.Contains(out, "is installed") {
		t.Errorf("init with the plugin installed: exit %d\n%s%s", code, out, errOut)
	}
}
