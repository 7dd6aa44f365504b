package e2e

import (
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

const parameterStoreTemplate = `packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.0.0"
    }
  }
}
data "amazon-parameterstore" "p" {
  name = "/app/version"
}
data "amazon-secretsmanager" "s" {
  name = "app"
}
source "null" "x" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
}
`

// A plugin imgbuild has partly built in (amazon: amazon-ebs, amazon-ami,
// amazon-secretsmanager): its other components need the plugin. Without
// it, validate says which are built in and how to install it; with it,
// the template is valid, the built-in and the plugin's data sources side
// by side.
func TestAPartlyBuiltInPluginsOtherComponentsNeedItInstalled(t *testing.T) {
	dir := writeTemplate(t, parameterStoreTemplate)
	r := imgbuild(t, dir, t.TempDir(), "validate", ".")
	if r.code == 0 || !strings.Contains(r.stderr, `Unknown data source type "amazon-parameterstore"`) ||
		!strings.Contains(r.stderr, "imgbuild has amazon-") || !strings.Contains(r.stderr, "imgbuild plugins install --path /path/to/packer-plugin-amazon github.com/hashicorp/amazon") {
		t.Errorf("without the plugin:\n%s", r)
	}
	if strings.Contains(r.stderr, "amazon-secretsmanager\"") {
		t.Errorf("the built-in data source is reported unknown:\n%s", r)
	}
	r = imgbuild(t, dir, testenv.PluginDir(t, "amazon"), "validate", ".")
	if r.code != 0 {
		t.Errorf("with the plugin installed:\n%s", r)
	}
}
