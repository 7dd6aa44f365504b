package legacy

import (
	"strings"
	"testing"
)

// Every function of Packer's legacy template engine, and the per-field
// contexts, as they translate.
func TestEveryTemplateFunctionTranslates(t *testing.T) {
	tc := &tmplContext{vars: map[string]string{"x": "x", "odd:name": "odd_name"}}
	for _, c := range []struct{ in, want string }{
		{"{{user `x`}}", "${var.x}"},
		{"{{user `odd:name`}}", "${var.odd_name}"},
		{"{{user `undeclared`}}", `${""}`},
		{"{{timestamp}}", "${local.timestamp}"},
		{"{{isotime}}", `${legacy_isotime("2006-01-02T15:04:05Z07:00")}`},
		{"{{isotime `2006-01-02`}}", `${legacy_isotime("2006-01-02")}`},
		{"{{uuid}}", "${uuidv4()}"},
		{"{{build_name}}-{{build_type}}", "${source.name}-${source.type}"},
		{"{{build `ID`}}", "${build.ID}"},
		{"{{template_dir}}/{{pwd}}", "${abspath(path.root)}/${path.cwd}"},
		{"{{packer_version}}", "${packer.version}"},
		{"{{split `a,b` `,` 1}}", `${element(split(",", "a,b"), 1)}`},
		{"{{replace_all `a` `b` `aa`}}", `${replace("aa", "a", "b")}`},
		{"{{replace `a` `b` -1 `aa`}}", `${replace("aa", "a", "b")}`},
		{"{{lower `A`}}{{upper `a`}}", `${lower("A")}${upper("a")}`},
		{"{{user `x` | upper}}", "${upper(var.x)}"},
		{"{{clean_resource_name `A b`}}", `${regex_replace(lower("A b"), "[^-a-z0-9_]", "-")}`},
		{"{{aws_secretsmanager `n` `k`}}", `${aws_secretsmanager("n", "k")}`},
		{"{{aws_secretsmanager `n`}}", `${aws_secretsmanager_raw("n")}`},
		{"{{consul_key `k`}}", `${consul_key("k")}`},
		{"{{vault `p` `k`}}", `${vault("p", "k")}`},
		// Per-field contexts stay for the component.
		{"http://{{ .HTTPIP }}:{{ .HTTPPort }}/{{ .Name }}", "http://{{.HTTPIP}}:{{.HTTPPort}}/{{.Name}}"},
		{"{{ .Vars }} {{ .Path }}", "{{.Vars}} {{.Path}}"},
		{"ami-{{ .SourceAMI }}", "ami-{{.SourceAMI}}"},
		{"{{ .Image }}", "{{.Image}}"},
		// HCL's own syntax in text is escaped.
		{"${HOME} %{x}", "$${HOME} %%{x}"},
	} {
		got, err := tc.translate(c.in, inComponent)
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if got, err := tc.translate("{{env `HOME`}}", inVariable); err != nil || got != `${env("HOME")}` {
		t.Errorf("env in a variable: %q, %v", got, err)
	}
}

func TestBadTemplatesAreErrorsNotPanics(t *testing.T) {
	tc := &tmplContext{}
	for _, c := range []struct{ in, want string }{
		{"{{nope}}", `function "nope" not defined`},
		{"{{user `x`", "unclosed action"},
		{"{{user}}", "takes 1 argument"},
		{"{{env `X`}}", "only be used in a variable's default"},
		{"{{replace `a` `b` 1 `aa`}}", "no HCL2 equivalent"},
		{"{{if true}}x{{end}}", "not supported"},
		{"{{$x := 1}}", "not supported"},
	} {
		_, err := tc.translate(c.in, inComponent)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.in, err, c.want)
		}
	}
}
