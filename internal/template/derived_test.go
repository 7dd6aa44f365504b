package template

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/sensitive"
)

// A secret computed inside a longer option string is registered on its
// own, whatever the body: native, JSON, or merged (a build's override of
// a source's options), and nested blocks of a native body.
func TestComputedSecretsInsideOptionsAreRegistered(t *testing.T) {
	const pw = "derived-unit-pw-31"
	upperPW := strings.ToUpper(pw)
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
			"pw": sensitive.Mark(cty.StringVal(pw)), "plain": cty.StringVal("plain-value-77"),
			"pws":   sensitive.Mark(cty.ListVal([]cty.Value{cty.StringVal(pw)})),
			"mixed": cty.ListVal([]cty.Value{cty.StringVal("plain-value-77"), sensitive.Mark(cty.StringVal(pw))}),
		})},
		Functions: map[string]function.Function{"upper": stdlib.UpperFunc},
	}
	parse := func(t *testing.T, name, src string) hcl.Body {
		p := hclparse.NewParser()
		var f *hcl.File
		var diags hcl.Diagnostics
		if strings.HasSuffix(name, ".json") {
			f, diags = p.ParseJSON([]byte(src), name)
		} else {
			f, diags = p.ParseHCL([]byte(src), name)
		}
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return f.Body
	}
	for _, tt := range []struct {
		name string
		body func(t *testing.T) hcl.Body
	}{
		{"native", func(t *testing.T) hcl.Body {
			return parse(t, "a.pkr.hcl", `inline = ["echo ${upper(var.pw)} ${var.plain}"]`)
		}},
		{"native nested block", func(t *testing.T) hcl.Body {
			return parse(t, "a.pkr.hcl", "inner {\n  cmd = \"run ${upper(var.pw)}\"\n}\n")
		}},
		{"for over a sensitive list", func(t *testing.T) hcl.Body {
			return parse(t, "a.pkr.hcl", `inline = [for s in var.pws : "echo ${upper(s)} ${var.plain}"]`)
		}},
		{"for over a list holding a secret", func(t *testing.T) hcl.Body {
			return parse(t, "a.pkr.hcl", `inline = [for i, s in var.mixed : "echo ${i} ${upper(s)}"]`)
		}},
		{"for with a secret from outside", func(t *testing.T) hcl.Body {
			return parse(t, "a.pkr.hcl", `env = {for k in ["a"] : k => "x ${upper(var.pw)}"}`)
		}},
		{"nested for", func(t *testing.T) hcl.Body {
			return parse(t, "a.pkr.hcl", `inline = [for l in [var.pws] : [for s in l : "run ${upper(s)}"]]`)
		}},
		{"dynamic block", func(t *testing.T) hcl.Body {
			return parse(t, "a.pkr.hcl", "dynamic \"step\" {\n  for_each = var.pws\n  content {\n    cmd = \"run ${upper(step.value)}\"\n  }\n}\n")
		}},
		{"dynamic block with an iterator, nested", func(t *testing.T) hcl.Body {
			return parse(t, "a.pkr.hcl", "outer {\n  dynamic \"step\" {\n    for_each = var.mixed\n    iterator = it\n    content {\n      cmd = \"run ${it.key} ${upper(it.value)}\"\n    }\n  }\n}\n")
		}},
		{"JSON", func(t *testing.T) hcl.Body {
			return parse(t, "a.pkr.json", `{"inline": ["echo ${upper(var.pw)} ${var.plain}"]}`)
		}},
		{"merged", func(t *testing.T) hcl.Body {
			return hcl.MergeBodies([]hcl.Body{
				parse(t, "a.pkr.hcl", `image = "x"`),
				parse(t, "b.pkr.hcl", `command = "echo ${upper(var.pw)}"`),
			})
		}},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			secret.Reset()
			t.Cleanup(secret.Reset)
			secret.AddSensitive(pw) // as loading the variable does
			registerDerivedSecrets(tt.body(t), ctx)
			if got := secret.Mask("out " + upperPW); strings.Contains(got, upperPW) {
				t.Errorf("the upper-cased secret is not registered: %q", got)
			}
			if got := secret.Mask("plain-value-77"); got != "plain-value-77" {
				t.Errorf("a plain value was registered: %q", got)
			}
		})
	}
}

// Without any sensitive value registered, nothing is evaluated or
// registered.
func TestNoSecretsNoDerivedRegistration(t *testing.T) {
	secret.Reset()
	t.Cleanup(secret.Reset)
	p := hclparse.NewParser()
	f, _ := p.ParseHCL([]byte(`x = "${upper(var.pw)}"`), "a.pkr.hcl")
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{"pw": sensitive.Mark(cty.StringVal("unregistered-pw"))})},
		Functions: map[string]function.Function{"upper": stdlib.UpperFunc},
	}
	registerDerivedSecrets(f.Body, ctx)
	if secret.HasSensitive() {
		t.Error("a value was registered although the template had no registered secret")
	}
}

// A secret computed inside a data source's option is registered too: the
// template's sensitive variables are registered as soon as they have
// their values, before the data sources are configured and run.
func TestComputedSecretsInDataSourceOptionsAreRegistered(t *testing.T) {
	secret.Reset()
	t.Cleanup(secret.Reset)
	const pw = "derived-data-pw-58"
	dir := t.TempDir()
	src := `
variable "pw" {
  type      = string
  default   = "` + pw + `"
  sensitive = true
}
data "test-data" "x" {
  want = "w-${upper(var.pw)}"
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.pkr.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, LoadOptions{Path: dir})
	upperPW := strings.ToUpper(pw)
	if got := secret.Mask("failed for " + upperPW); strings.Contains(got, upperPW) {
		t.Errorf("the upper-cased secret in the data source's option is not registered: %q", got)
	}
}
