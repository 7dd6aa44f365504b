package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// A test-only builder, so these tests do not depend on the real plugins.
type cliTestConfig struct {
	Image string `hcl:"image"`
}

type cliTestBuilder struct{ cfg cliTestConfig }

func (b *cliTestBuilder) Config() any                { return &b.cfg }
func (b *cliTestBuilder) Prepare() ([]string, error) { return nil, nil }
func (b *cliTestBuilder) Run(context.Context, *plugin.BuildEnv) (plugin.Artifact, error) {
	return nil, errors.New("not runnable")
}

func init() {
	plugin.RegisterBuilder("cli-test", func() plugin.Builder { return &cliTestBuilder{} })
}

func writeTemplate(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

const goodTemplate = `
variable "image" {
  type = string
}
variable "token" {
  type      = string
  default   = "s3cr3t-token-value"
  sensitive = true
}
locals {
  full = "${var.image}:latest"
}
source "cli-test" "a" {
  image = local.full
}
build {
  name    = "b"
  sources = ["source.cli-test.a"]
}
`

func TestValidateAcceptsAValidTemplateWithVarsInCommandLineOrder(t *testing.T) {
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": goodTemplate, "vars.pkrvars.hcl": `image = "from-file"`})
	code, out, errOut := run(t, "", "validate", "-var-file="+filepath.Join(dir, "vars.pkrvars.hcl"), "-var", "image=x", dir)
	if code != 0 || out != "The configuration is valid.\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = run(t, "", "validate", "-syntax-only", dir)
	if code != 0 || !strings.Contains(out, "Syntax-only check passed") {
		t.Fatalf("syntax-only: exit %d, %q", code, out)
	}
}

func TestValidateReportsEveryErrorWithFileLineAndSnippet(t *testing.T) {
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": `
source "cli-test" "a" {
  imagee = "x"
}
source "cli-test" "b" {
  image = var.nope
}
build {
  sources = ["source.cli-test.a", "source.cli-test.b"]
}
`})
	code, out, errOut := run(t, "", "validate", dir)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{
		"Error: Unsupported argument",
		"on " + filepath.Join(dir, "main.pkr.hcl") + " line 3",
		`   3:   imagee = "x"`,
		`Did you mean "image"?`,
		"line 6",
		`Missing required argument`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
		t.Errorf("stderr shows a crash:\n%s", errOut)
	}
}

func TestValidateRejectsAMissingVariableAndAnUndeclaredVar(t *testing.T) {
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": goodTemplate})
	code, _, errOut := run(t, "", "validate", dir)
	if code != 1 || !strings.Contains(errOut, `Unset variable "image"`) {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
	code, _, errOut = run(t, "", "validate", "-var", "image=x", "-var", "imgae=y", dir)
	if code != 1 || !strings.Contains(errOut, "Undefined -var variable") || !strings.Contains(errOut, `Did you mean "image"?`) {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
}

func TestValidateUsesPKRVAREnvironmentVariables(t *testing.T) {
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": goodTemplate})
	t.Setenv("PKR_VAR_image", "from-env")
	if code, _, errOut := run(t, "", "validate", dir); code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
}

func TestInspectMasksSensitiveValuesAndListsBuilds(t *testing.T) {
	secret.Reset()
	defer secret.Reset()
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": goodTemplate})
	code, out, errOut := run(t, "", "inspect", "-var", "image=img", dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	for _, want := range []string{`var.image: "img"`, `var.token: "<sensitive>"`, `local.full: "img:latest"`, "cli-test.a", "> b:", "b.cli-test.a"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t-token-value") {
		t.Errorf("inspect shows the sensitive value:\n%s", out)
	}
}

func TestConsoleEvaluatesPipedLinesPrintsStringsUnquotedAndStopsAtTheFirstError(t *testing.T) {
	secret.Reset()
	defer secret.Reset()
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": goodTemplate})
	code, out, errOut := run(t, "upper(var.image)\nlocal.full\n[1, 2]\nvar.token\n", "console", "-var", "image=abc", dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	want := "ABC\nabc:latest\n[\n  1,\n  2,\n]\n<sensitive>\n"
	if out != want {
		t.Errorf("stdout %q; want %q", out, want)
	}
	code, out, errOut = run(t, "1 + 1\nnope(\n2\n", "console")
	if code != 1 || out != "2\n" || !strings.Contains(errOut, "Error:") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestConsoleTakesPackersHelpVariablesAndExitCommands(t *testing.T) {
	secret.Reset()
	defer secret.Reset()
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": goodTemplate})
	code, out, errOut := run(t, "help\nvariables\nexit\nnope(\n", "console", "-var", "image=abc", dir)
	if code != 0 {
		t.Fatalf("exit %d (exit should stop before the bad line):\n%s", code, errOut)
	}
	for _, want := range []string{"variables  lists", "var.image: \"abc\"", "local.full: \"abc:latest\"", "var.token: \"<sensitive>\""} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t-token-value") {
		t.Errorf("variables shows the sensitive value:\n%s", out)
	}
}

func TestInitSucceedsForBuiltInPluginsAndNamesTheOthers(t *testing.T) {
	isolatePlugins(t)
	builtin := writeTemplate(t, map[string]string{"main.pkr.hcl": `
packer {
  required_plugins {
    docker = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/docker"
    }
  }
}
`})
	if code, out, errOut := run(t, "", "init", builtin); code != 0 || !strings.Contains(out, "github.com/hashicorp/docker") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	other := writeTemplate(t, map[string]string{"main.pkr.hcl": `
packer {
  required_plugins {
    ansible = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/ansible"
    }
  }
}
`})
	if code, _, errOut := run(t, "", "init", other); code != 1 || !strings.Contains(errOut, "github.com/hashicorp/ansible") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestEveryTemplateCommandHasHelp(t *testing.T) {
	for _, cmd := range []string{"validate", "inspect", "console", "init"} {
		code, out, _ := run(t, "", cmd, "--help")
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help: exit %d, %q", cmd, code, out)
		}
	}
}

func TestValidateWithoutAPathIsAUsageError(t *testing.T) {
	if code, _, errOut := run(t, "", "validate"); code != 1 || errOut == "" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestValidateAcceptsEveryExample(t *testing.T) {
	examples, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "examples", "*.pkr.hcl"))
	legacyExamples, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "examples", "*.json"))
	examples = append(examples, legacyExamples...)
	if len(examples) == 0 {
		t.Fatal("examples/ has no *.pkr.hcl: the README's examples are gone")
	}
	for _, ex := range examples {
		t.Run(filepath.Base(ex), func(t *testing.T) {
			if code, out, errOut := run(t, "", "validate", ex); code != 0 {
				t.Errorf("exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}

func TestValidateExplainsFilesItCannotRead(t *testing.T) {
	legacy := writeTemplate(t, map[string]string{"old.json": `{"builders": []}`, "other.json": `{"name": "x"}`})
	empty := t.TempDir()
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(legacy, "old.json"), "No builders"},
		{filepath.Join(legacy, "other.json"), "Not a Packer template"},
		{empty, "Could not find any config file"},
		{filepath.Join(empty, "missing.pkr.hcl"), "Could not read the template"},
	} {
		code, _, errOut := run(t, "", "validate", tc.path)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %q", tc.path, code, errOut, tc.want)
		}
	}
}

func TestValidateReadsJSONTemplatesAndReportsTheirErrorsWithLines(t *testing.T) {
	dir := writeTemplate(t, map[string]string{"t.pkr.json": `{
  "source": {"cli-test": {"a": {"image": "x", "imag": "y"}}},
  "build": {"sources": ["source.cli-test.a"]}
}`})
	code, _, errOut := run(t, "", "validate", dir)
	if code != 1 || !strings.Contains(errOut, "line 2") || !strings.Contains(errOut, `"imag"`) {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
}
