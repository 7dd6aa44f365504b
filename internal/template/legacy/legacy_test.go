package legacy

import (
	"strings"
	"testing"
	"time"
)

func translateOK(t *testing.T, src string) string {
	t.Helper()
	tr, diags := Translate("t.json", []byte(src), Options{Now: time.Unix(1700000000, 0), Env: []string{"HOME=/home/me"}, TemplateDir: "/tpl"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return tr.String()
}

func TestStringsBecomeHCLTemplatesAndContextsStay(t *testing.T) {
	got := translateOK(t, `{
  "variables": {"name": "web", "home": "{{env `+"`HOME`"+`}}/x", "dollar": "${literal}"},
  "builders": [{"type": "qemu", "boot_command": ["<esc> http://{{ .HTTPIP }}:{{ .HTTPPort }}/{{user `+"`name`"+`}}"],
    "vm_name": "{{user `+"`name`"+` | upper}}-{{timestamp}}", "output_directory": "{{template_dir}}/out-{{build_name}}",
    "note": "{{user `+"`undeclared`"+`}}x"}]
}`)
	for _, want := range []string{
		`"home": {` + "\n",                                               // a block per variable
		`"default": "/home/me/x"`,                                        // env, read when the template is read
		`"default": "$${literal}"`,                                       // HCL's own syntax escaped
		`<esc> http://{{.HTTPIP}}:{{.HTTPPort}}/${var.name}`,             // per-field context kept
		`"vm_name": "${upper(var.name)}-${local.timestamp}"`,             // pipes
		`"timestamp": "1700000000"`,                                      // one Unix time per run
		`"output_directory": "${abspath(path.root)}/out-${source.name}"`, // template_dir, build_name
		`"note": "${\"\"}x"`,                                             // undeclared variables are ""
	} {
		if !strings.Contains(got, want) {
			t.Errorf("translation lacks %s:\n%s", want, got)
		}
	}
}

func TestProvisionersAndPostProcessorsKeepPackersMeaning(t *testing.T) {
	got := translateOK(t, `{
  "builders": [{"type": "docker", "name": "box", "image": "x", "commit": true}, {"type": "null", "communicator": "none"}],
  "provisioners": [{"type": "shell", "only": ["box"], "pause_before": "1s", "max_retries": "2", "inline": ["a"],
    "override": {"null": {"inline": ["b"]}}}],
  "post-processors": ["manifest", [{"type": "docker-tag", "repository": "r", "keep_input_artifact": true}, {"type": "docker-push", "except": ["null"]}]]
}`)
	for _, want := range []string{
		`"box": {`, `"sources": [` + "\n" + `      "source.docker.box",` + "\n" + `      "source.null.null"`,
		`"only": [` + "\n" + `            "docker.box"`, `"pause_before": "1s"`, `"max_retries": 2`,
		`"override": {` + "\n" + `            "null": {`,
		`"post-processors": [`, `"manifest": {}`, `"keep_input_artifact": true`, `"except": [` + "\n" + `                  "null.null"`,
	} {
		// Indentation is not the point: compare without spaces.
		if !strings.Contains(squash(got), squash(want)) {
			t.Errorf("translation lacks %q:\n%s", want, got)
		}
	}
}

func squash(s string) string { return strings.Join(strings.Fields(s), "") }

func TestErrorsNameTheLegacyFilesLineAndColumn(t *testing.T) {
	for _, c := range []struct {
		src        string
		line, col  int
		wantDetail string
	}{
		{"{\n  \"builders\": [{\"type\": \"docker\", \"image\": \"{{nope}}\"}]\n}", 2, 44, `function "nope" not defined`},
		{"{\n  \"builders\": [\n    {\"image\": \"x\"}\n  ]\n}", 3, 5, `"type"`},
		{"{\n  \"builders\": [{\"type\": \"docker\"}],\n  \"provisioners\": [{\"type\": \"shell\", \"only\": [\"ghost\"]}]\n}", 3, 47, `"ghost"`},
		{"{\n  \"builders\": [{\"type\": \"docker\", \"tag\": \"{{env `X`}}\"}]\n}", 2, 42, "env can only be used in a variable's default"},
		{"{\n  \"builders\": [{\"type\": \"a\"}],\n  \"builders\": []\n}", 3, 3, "appears twice"},
		{"{\n  \"builders\": [{\"type\": \"a\"}],\n  \"bogus\": 1\n}", 3, 3, `"bogus"`},
	} {
		_, diags := Translate("t.json", []byte(c.src), Options{})
		if !diags.HasErrors() {
			t.Errorf("%s: no error", c.src)
			continue
		}
		d := diags[0]
		if d.Subject == nil || d.Subject.Filename != "t.json" || d.Subject.Start.Line != c.line || d.Subject.Start.Column != c.col || !strings.Contains(d.Detail, c.wantDetail) {
			t.Errorf("%s:\n got %v %s: %s\nwant line %d col %d with %q", c.src, d.Subject, d.Summary, d.Detail, c.line, c.col, c.wantDetail)
		}
	}
}

func TestVariablesRenderOtherVariablesOnceAllAreKnown(t *testing.T) {
	tr, diags := Translate("t.json", []byte(`{"builders": [{"type": "null"}]}`), Options{Env: []string{"E=env"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got, err := tr.RenderVariables(map[string]string{"a": "/tmp", "b": "{{user `a`}}/w", "c": "{{user `b`}}-{{env `E`}}"})
	if err != nil {
		t.Fatal(err)
	}
	if got["b"] != "/tmp/w" || got["c"] != "/tmp/w-env" {
		t.Errorf("rendered %v", got)
	}
}
