package cli

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// Values computed from a sensitive variable are sensitive too (issue 14,
// defect 4): upper(var.pw) and base64encode(var.pw) are masked in the
// build's output, in the manifest's custom_data and in console.
func TestValuesDerivedFromSecretsAreMaskedEverywhere(t *testing.T) {
	secret.Reset()
	t.Cleanup(secret.Reset)
	const pw = "hunter2-derived-7f3a"
	upper := strings.ToUpper(pw)
	b64 := base64.StdEncoding.EncodeToString([]byte(pw))
	// Computed inside a longer string of the provisioner's options, not in
	// a local: the command prints them on their own.
	replaced := strings.ReplaceAll(pw, "-", "_")
	sum := sha256.Sum256([]byte(pw))
	hash := hex.EncodeToString(sum[:])
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": `
variable "pw" {
  type      = string
  default   = "` + pw + `"
  sensitive = true
}
locals {
  shout   = upper(var.pw)
  encoded = base64encode(var.pw)
  line    = "token=${local.encoded}"
}
source "null" "x" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = ["echo ${local.shout}", "echo ${local.line}", "echo inline ${replace(var.pw, "-", "_")}x and ${sha256(var.pw)}"]
  }
  post-processor "manifest" {
    output      = "manifest.json"
    custom_data = { encoded = local.encoded, plain = "visible" }
  }
}
`})
	t.Chdir(dir)
	code, out, errOut := run(t, "", "build", ".")
	if code != 0 {
		t.Fatalf("build: exit %d\n%s%s", code, out, errOut)
	}
	manifest, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(manifest), "visible") {
		t.Fatalf("the manifest lacks its plain custom_data; the test proves nothing:\n%s", manifest)
	}
	_, consoleOut, _ := run(t, "local.shout\nlocal.line\n", "console", ".")
	for where, text := range map[string]string{"build output": out + errOut, "manifest": string(manifest), "console": consoleOut} {
		for _, leak := range []string{upper, b64, replaced, hash} {
			if strings.Contains(text, leak) {
				t.Errorf("%s shows %q:\n%s", where, leak, text)
			}
		}
	}
	if !strings.Contains(out, "inline <sensitive>x and <sensitive>") {
		t.Errorf("the provisioner's output shows no masked value:\n%s", out)
	}
}

// The same in a legacy JSON template: a sensitive user variable piped
// through upper in the middle of a provisioner's command.
func TestValuesDerivedFromSecretsInALegacyJSONTemplateAreMasked(t *testing.T) {
	secret.Reset()
	t.Cleanup(secret.Reset)
	const pw = "json-derived-pw-5521"
	dir := writeTemplate(t, map[string]string{"t.json": `{
  "variables": {"pw": "` + pw + `"},
  "sensitive-variables": ["pw"],
  "builders": [{"type": "null", "communicator": "none"}],
  "provisioners": [{"type": "shell-local", "inline": ["echo upper {{user ` + "`pw`" + ` | upper}} done"]}]
}`})
	t.Chdir(dir)
	code, out, errOut := run(t, "", "build", "t.json")
	if code != 0 {
		t.Fatalf("build: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, strings.ToUpper(pw)) || !strings.Contains(out, "upper <sensitive> done") {
		t.Errorf("the upper-cased secret is not masked:\n%s%s", out, errOut)
	}
}

// A command made for each element of a sensitive list by a for expression
// prints each computed secret on its own: each is masked.
func TestSecretsComputedInAForExpressionAreMasked(t *testing.T) {
	secret.Reset()
	t.Cleanup(secret.Reset)
	pws := []string{"hunter2-for-secret", "other-pw-value"}
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": `
variable "pws" {
  type      = list(string)
  default   = ["` + pws[0] + `", "` + pws[1] + `"]
  sensitive = true
}
source "null" "x" {
  communicator = "none"
}
build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = [for s in var.pws : "echo got ${upper(s)} done"]
  }
}
`})
	t.Chdir(dir)
	code, out, errOut := run(t, "", "build", ".")
	if code != 0 {
		t.Fatalf("build: exit %d\n%s%s", code, out, errOut)
	}
	if n := strings.Count(out, "got <sensitive> done"); n != 2 {
		t.Errorf("want both commands' output masked, got %d:\n%s", n, out)
	}
	for _, pw := range pws {
		if up := strings.ToUpper(pw); strings.Contains(out+errOut, up) {
			t.Errorf("the output shows %q:\n%s%s", up, out, errOut)
		}
	}
}
