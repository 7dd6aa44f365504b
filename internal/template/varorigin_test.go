package template

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// A value from PKR_VAR_ has no place in a file, so its errors point at the
// declaration or the rule it failed, never at "line 0".
func TestEnvironmentValueErrorsPointAtTheDeclarationOrTheRule(t *testing.T) {
	src := `variable "n" {
  type = number
}
variable "image" {
  type = string
  validation {
    condition     = startswith(var.image, "registry.local/")
    error_message = "The image must come from our registry."
  }
}
`
	for _, tc := range []struct {
		env  []string
		want string
		line int
	}{
		{[]string{"PKR_VAR_n=abc", "PKR_VAR_image=registry.local/x"}, "from the environment variable PKR_VAR_n is not compatible", 1},
		{[]string{"PKR_VAR_n=1", "PKR_VAR_image=docker.io/alpine"}, "The image must come from our registry.", 7},
	} {
		_, diags := loadInline("vars.pkr.hcl", []byte(src), LoadOptions{Env: tc.env})
		var found *hcl.Diagnostic
		for _, d := range diags {
			if strings.Contains(d.Detail, tc.want) {
				found = d
			}
		}
		switch {
		case found == nil:
			t.Errorf("%s: no error saying %q; got:\n%s", tc.env, tc.want, diagsText(diags))
		case found.Subject == nil || found.Subject.Filename != "vars.pkr.hcl" || found.Subject.Start.Line != tc.line:
			t.Errorf("%s: error points at %v; want vars.pkr.hcl line %d", tc.env, found.Subject, tc.line)
		}
	}
}
