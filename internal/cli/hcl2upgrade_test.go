package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// upgradeTemplate writes a legacy template into a fresh folder, runs
// hcl2_upgrade on it and returns the folder and the upgraded file's text.
func upgradeTemplate(t *testing.T, legacyJSON string, extra map[string]string) (dir, upgraded string) {
	t.Helper()
	files := map[string]string{"t.json": legacyJSON}
	for k, v := range extra {
		files[k] = v
	}
	dir = writeTemplate(t, files)
	t.Chdir(dir)
	if code, out, errOut := run(t, "", "hcl2_upgrade", "-output-file", "t.pkr.hcl", "t.json"); code != 0 {
		t.Fatalf("hcl2_upgrade: exit %d\n%s%s", code, out, errOut)
	}
	text, err := os.ReadFile(filepath.Join(dir, "t.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, string(text)
}

// containsHCL reports whether text holds want, however hclwrite aligned
// the equals signs.
func containsHCL(text, want string) bool {
	squeeze := regexp.MustCompile(` +`)
	return strings.Contains(squeeze.ReplaceAllString(text, " "), squeeze.ReplaceAllString(want, " "))
}

// A default that computes its value when the template runs ({{uuid}},
// {{timestamp}}, {{template_dir}}, {{user `other`}}) is read through a
// local in the upgrade: an HCL2 variable default cannot call them, and
// baking the upgrade's own values in would freeze a UUID or a timestamp
// forever. The variable stays, so -var still sets it.
func TestUpgradeTurnsDefaultsComputedAtRunTimeIntoLocals(t *testing.T) {
	secret.Reset()
	t.Cleanup(secret.Reset)
	dir, text := upgradeTemplate(t, `{
  "variables": {
    "id": "{{uuid}}",
    "stamp": "img-{{timestamp}}",
    "here": "{{template_dir}}",
    "name": "base",
    "derived": "{{user `+"`name`"+`}}-2",
    "home": "{{env `+"`HOME`"+`}}",
    "token": "tok-{{uuid}}"
  },
  "sensitive-variables": ["token"],
  "builders": [{"type": "null", "communicator": "none"}],
  "provisioners": [{"type": "shell-local", "inline": [
    "echo id={{user `+"`id`"+`}} stamp={{user `+"`stamp`"+`}} here={{user `+"`here`"+`}} derived={{user `+"`derived`"+`}}",
    "echo token={{user `+"`token`"+`}}"]}]
}`, nil)
	for _, want := range []string{
		`id = var.id != "" ? var.id : uuidv4()`,
		`stamp = var.stamp != "" ? var.stamp : "img-${local.timestamp}"`,
		`here = var.here != "" ? var.here : abspath(path.root)`,
		`derived = var.derived != "" ? var.derived : "${var.name}-2"`,
		`default = env("HOME")`, // env() is allowed in a default: it stays a plain variable
		`local "token" {`, "sensitive = true",
		"${local.id}", "${local.derived}", "${local.token}",
	} {
		if !containsHCL(text, want) {
			t.Errorf("the upgrade lacks %q:\n%s", want, text)
		}
	}
	ids := map[string]bool{}
	for i := 0; i < 2; i++ {
		code, out, errOut := run(t, "", "build", "t.pkr.hcl")
		if code != 0 {
			t.Fatalf("build of the upgraded template: exit %d\n%s%s\n%s", code, out, errOut, text)
		}
		m := regexp.MustCompile(`id=([0-9a-f-]{36}) stamp=img-(\d{14}) here=(\S+) derived=(\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the build did not print the values:\n%s", out)
		}
		ids[m[1]] = true
		if want, _ := filepath.EvalSymlinks(dir); m[3] != dir && m[3] != want {
			t.Errorf("template_dir is %q, want the template's folder %q", m[3], dir)
		}
		if m[4] != "base-2" {
			t.Errorf("derived is %q, want base-2", m[4])
		}
		if !strings.Contains(out, "token=<sensitive>") {
			t.Errorf("the sensitive local is not masked:\n%s", out)
		}
	}
	if len(ids) != 2 {
		t.Errorf("two builds printed the same {{uuid}}: it was frozen into the upgrade")
	}
	code, out, errOut := run(t, "", "build", "-var", "derived=given", "-var", "id=fixed-id", "t.pkr.hcl")
	if code != 0 || !strings.Contains(out, "id=fixed-id") || !strings.Contains(out, "derived=given") {
		t.Errorf("-var does not set the variables read through locals: exit %d\n%s%s", code, out, errOut)
	}
}

// Packer decodes legacy templates weakly: a variable's "" is false for a
// bool option and an empty list for a list option. The upgrade keeps that
// meaning, so a project's var files that leave such values empty still
// validate with the upgraded template.
func TestUpgradeReadsEmptyStringsInTypedOptionsAsWeakDecodingDoes(t *testing.T) {
	_, text := upgradeTemplate(t, `{
  "variables": {"priv": "", "caps": "", "shm": ""},
  "builders": [{"type": "docker", "image": "busybox", "commit": true,
    "privileged": "{{user `+"`priv`"+`}}", "cap_add": "{{user `+"`caps`"+`}}", "pull": "{{user `+"`priv`"+`}}"}]
}`, nil)
	for _, want := range []string{
		`privileged = var.priv == "" ? false : tobool(var.priv)`,
		`cap_add    = var.caps == "" ? [] : split(",", var.caps)`,
	} {
		if !containsHCL(text, want) {
			t.Errorf("the upgrade lacks %q:\n%s", want, text)
		}
	}
	for _, args := range [][]string{
		{"validate", "t.pkr.hcl"},
		{"validate", "-var", "priv=true", "-var", "caps=SYS_ADMIN,NET_ADMIN", "t.pkr.hcl"},
	} {
		if code, out, errOut := run(t, "", args...); code != 0 {
			t.Errorf("%v: exit %d\n%s%s\n%s", args, code, out, errOut, text)
		}
	}
	if code, _, errOut := run(t, "", "validate", "-var", "priv=maybe", "t.pkr.hcl"); code == 0 || !strings.Contains(errOut, "maybe") {
		t.Errorf("a value that is not a bool was accepted (exit %d):\n%s", code, errOut)
	}
}

// A project that upgrades its template keeps its legacy JSON var files:
// imgbuild reads them as legacy Packer does (null is "", {{user `x`}} and
// {{env `X`}} are rendered), for untyped variables only, and leaves alone
// what is not legacy (a *.pkrvars.json file, a typed variable, a value a
// component renders such as {{ .Path }}).
func TestHCL2TemplateReadsALegacyJSONVarFileAsLegacyPackerDoes(t *testing.T) {
	t.Setenv("IMGBUILD_TEST_LEGACY_ENV", "from-env")
	dir := writeTemplate(t, map[string]string{
		"main.pkr.hcl": `
variable "root" {}
variable "work" {}
variable "empty" {}
variable "fromenv" {}
variable "cmd" {}
variable "typed" {
  type = string
}
source "null" "x" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = ["echo 'work=${var.work} empty=[${var.empty}] env=${var.fromenv} cmd=${var.cmd} typed=${var.typed}'"]
  }
}
`,
		"legacy.json": `{"root": "/opt", "work": "{{user ` + "`root`" + `}}/worker", "empty": null,
  "fromenv": "{{env ` + "`IMGBUILD_TEST_LEGACY_ENV`" + `}}", "cmd": "sudo {{ .Path }}", "typed": "{{user ` + "`root`" + `}}"}`,
	})
	t.Chdir(dir)
	code, out, errOut := run(t, "", "build", "-var-file=legacy.json", ".")
	if code != 0 {
		t.Fatalf("build: exit %d\n%s%s", code, out, errOut)
	}
	want := "work=/opt/worker empty=[] env=from-env cmd=sudo {{ .Path }} typed={{user `root`}}"
	if !strings.Contains(out, want) {
		t.Errorf("the values are not legacy Packer's; want %q in:\n%s", want, out)
	}

	// The same values in a *.pkrvars.json file are HCL2's: taken literally.
	if err := os.Rename("legacy.json", "values.pkrvars.json"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "", "build", "-var-file=values.pkrvars.json", ".")
	if code == 0 && strings.Contains(out, "work=/opt/worker") {
		t.Errorf("a .pkrvars.json file was read the legacy way:\n%s", out)
	}
	_ = errOut
}
