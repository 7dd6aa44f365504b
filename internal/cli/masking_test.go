package cli

import (
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// A plugin's secret (ssh_password = "ubuntu", registered by the
// communicator's Prepare) is the user's own text in the template: a
// diagnostic quotes file names, block labels and source lines as written.
func TestDiagnosticsQuoteTheTemplateWithPluginSecretsUnmasked(t *testing.T) {
	secret.Reset()
	t.Cleanup(secret.Reset)
	dir := writeTemplate(t, map[string]string{"ubuntu-setup.pkr.hcl": `
source "null" "ubuntu" {
  ssh_host     = "127.0.0.1"
  ssh_username = "ubuntu"
  ssh_password = "ubuntu"
}
source "null" "ubuntu-broken" {
  communicator = "none"
  ubuntu_flavour = "ubuntu-jammy"
}
build {
  sources = ["source.null.ubuntu", "source.null.ubuntu-broken"]
}
`})
	code, out, errOut := run(t, "", "validate", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s%s", code, out, errOut)
	}
	if secret.Mask("pw ubuntu") != "pw <sensitive>" {
		t.Fatalf("the null builder did not register its ssh_password; the test proves nothing")
	}
	for _, want := range []string{
		"on " + dir + "/ubuntu-setup.pkr.hcl line 9",
		`in source "null" "ubuntu-broken"`,
		`ubuntu_flavour = "ubuntu-jammy"`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the diagnostic lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "<sensitive>") {
		t.Errorf("the diagnostic masks the template's own text:\n%s", errOut)
	}
}

// Declared sensitive values stay masked in diagnostics, source lines
// included, as Packer masks them in all of its output.
func TestDiagnosticsMaskDeclaredSensitiveValuesInSourceLines(t *testing.T) {
	secret.Reset()
	t.Cleanup(secret.Reset)
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": `
variable "token" {
  type      = string
  default   = "declared-token-9c1e"
  sensitive = true
  validation {
    condition     = length(var.token) > 40
    error_message = "The token is too short."
  }
}
`})
	code, out, errOut := run(t, "", "validate", dir)
	if code != 1 || !strings.Contains(errOut, "The token is too short.") {
		t.Fatalf("exit %d, want 1 with the validation error:\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "declared-token-9c1e") {
		t.Errorf("the sensitive value appears in the diagnostic:\n%s", errOut)
	}
	if !strings.Contains(errOut, `default   = "<sensitive>"`) {
		t.Errorf("the diagnostic does not quote the masked source line:\n%s", errOut)
	}
}
