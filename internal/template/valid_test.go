package template

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/template/hcldecode"
)

const validDir = "../../testdata/templates/valid/"

func mustLoad(t *testing.T, opts LoadOptions) *Template {
	t.Helper()
	tpl, diags := Load(context.Background(), opts)
	if diags.HasErrors() {
		t.Fatalf("loading %s: %s", opts.Path, diagsText(diags))
	}
	return tpl
}

// expectValues evaluates each expression against tpl and compares its
// rendering with the expected expression's.
func expectValues(t *testing.T, tpl *Template, want map[string]string) {
	t.Helper()
	for expr, w := range want {
		got, diags := tpl.Evaluate(expr)
		if diags.HasErrors() {
			t.Errorf("%s: %s", expr, diagsText(diags))
			continue
		}
		wv, diags := Empty(context.Background()).Evaluate(w)
		if diags.HasErrors() {
			t.Fatalf("bad expectation %s: %s", w, diagsText(diags))
		}
		if FormatValue(got) != FormatValue(wv) {
			t.Errorf("%s = %s; want %s", expr, FormatValue(got), FormatValue(wv))
		}
	}
}

func TestVariablesTakeValuesInPackersOrderOfPrecedence(t *testing.T) {
	dir := validDir + "variables"
	t.Setenv("IMGBUILD_TEMPLATE_TEST_ENV", "from-env-func")
	tpl := mustLoad(t, LoadOptions{
		Path: dir,
		Env:  []string{"PKR_VAR_from_env=env", "PKR_VAR_undeclared=ignored", "PKR_VAR_from_cli=99"},
		Vars: []VarArg{
			{Assign: "from_cli=7"},
			{Assign: "cli_beats_file=cli"},
			{File: dir + "/explicit.pkrvars.hcl"}, // later: the file wins here
			{Assign: `cli_list=["p","q"]`},
			{Assign: "untyped_cli=[1]"},
		},
	})
	expectValues(t, tpl, map[string]string{
		"var.plain":            `"from-default"`,
		"var.from_env":         `"env"`,
		"var.from_env_func":    `"from-env-func"`,
		"var.from_auto":        `"auto"`,
		"var.from_file":        `"file"`,
		"var.from_cli":         `7`,
		"var.cli_beats_file":   `"file"`,
		"var.list":             `["a", "b"]`,
		"var.map":              `{one = 1, two = 2}`,
		"var.set":              `["a", "b"]`,
		"var.object":           `{name = "obj", size = 10, flags = null}`,
		"var.tuple":            `["x", 1, true]`,
		"var.anything.nested":  `["v"]`,
		"var.cli_list":         `["p", "q"]`,
		"var.untyped_cli":      `"[1]"`,
		"var.nullable_default": `"kept"`,
		"var.legacy":           `"from-variables-block"`,
		"var.legacy_list":      `["l1"]`,
		"var.validated":        `"ok-value"`,
		"var.from_json_auto":   `"json"`,
	})
}

func TestUndeclaredVariablesInVarFilesAreOnlyWarnings(t *testing.T) {
	_, diags := Load(context.Background(), LoadOptions{Path: validDir + "variables", Vars: []VarArg{{Assign: "cli_beats_file=x"}}})
	if diags.HasErrors() {
		t.Fatal(diagsText(diags))
	}
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning && strings.Contains(d.Detail, `"undeclared_in_file"`) {
			return
		}
	}
	t.Errorf("no warning about undeclared_in_file: %s", diagsText(diags))
}

func TestLaterCommandLineVarWins(t *testing.T) {
	dir := validDir + "variables"
	tpl := mustLoad(t, LoadOptions{Path: dir, Vars: []VarArg{
		{File: dir + "/explicit.pkrvars.hcl"},
		{Assign: "cli_beats_file=cli"},
	}})
	expectValues(t, tpl, map[string]string{"var.cli_beats_file": `"cli"`, "var.from_env": `"default"`})
}

func TestSensitiveVariablesAreRegisteredAsSecrets(t *testing.T) {
	secret.Reset()
	defer secret.Reset()
	tpl := mustLoad(t, LoadOptions{Path: validDir + "variables", Vars: []VarArg{{Assign: "cli_beats_file=x"}}})
	if got := tpl.SensitiveValues(); !reflect.DeepEqual(got, []string{"hunter2-secret", "tok-from-default"}) {
		t.Errorf("SensitiveValues() = %q", got)
	}
	if got := secret.Mask("pw=hunter2-secret"); got != "pw=<sensitive>" {
		t.Errorf("secret.Mask = %q", got)
	}
	// The sensitive local is marked, and holds the real value.
	v, diags := tpl.Evaluate("local.secret_token")
	if diags.HasErrors() {
		t.Fatal(diagsText(diags))
	}
	if raw, _ := v.Unmark(); !v.IsMarked() || raw.AsString() != "tok-from-default" {
		t.Errorf("local.secret_token = %#v; want \"tok-from-default\", marked", v)
	}
}

func TestFunctionsOfEveryFamilyEvaluate(t *testing.T) {
	tpl := mustLoad(t, LoadOptions{Path: validDir + "functions"})
	expectValues(t, tpl, map[string]string{
		"local.numeric":     `[3, 2, 1, 5, 1, 8, 255, -1]`,
		"local.strings":     `["A", "b", "Hi There", "x", "a_b", "n=3", "a,b", "ell", "b", "a", "x", "cba", "ab"]`,
		"local.split":       `["a", "b", "c"]`,
		"local.collection":  `[2, "b", 1, true]`,
		"local.merged":      `{a = 1, b = 2}`,
		"local.keys":        `["a", "b"]`,
		"local.flat":        `["a", "b", "c"]`,
		"local.distinct":    `["a", "b"]`,
		"local.lookup":      `"fallback"`,
		"local.coalesce":    `"second"`,
		"local.zipmap":      `{a = 1, b = 2}`,
		"local.range":       `[0, 1, 2]`,
		"local.slice":       `["b", "c"]`,
		"local.reverse":     `[3, 2, 1]`,
		"local.setunion":    `["a", "b"]`,
		"local.json":        `"{\"a\":[1,true]}"`,
		"local.fromjson":    `{k = "v"}`,
		"local.base64":      `"aGVsbG8="`,
		"local.unbase64":    `"hello"`,
		"local.yaml":        `{a = 1}`,
		"local.urlencode":   `"a+b"`,
		"local.sha256":      `"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`,
		"local.md5":         `"900150983cd24fb0d6963f7d28e17f72"`,
		"local.sha1":        `"a9993e364706816aba3e25717850c26c9cd0d89d"`,
		"local.uuidv5":      `"cfbff0d1-9375-5685-968c-48ce8b15ae17"`,
		"local.uuid_len":    `36`,
		"local.cidr":        `"10.0.2.0/24"`,
		"local.cidrhost":    `"10.0.0.5"`,
		"local.tonumber":    `42`,
		"local.tostring":    `"42"`,
		"local.tobool":      `true`,
		"local.toset":       `1`,
		"local.can_ok":      `false`,
		"local.try_ok":      `"fallback"`,
		"local.file":        `"file content"`,
		"local.fileexists":  `true`,
		"local.dir":         `"functions"`,
		"local.fileset":     `["data.txt"]`,
		"local.template":    `"Hello imgbuild! [x] [y]"`,
		"local.formatdate":  `"2024-03-05"`,
		"local.timeadd":     `"2024-01-01T01:00:00Z"`,
		"local.isotime":     `true`,
		"local.legacy_iso":  `true`,
		"local.strftime":    `true`,
		"local.bcrypt_len":  `true`,
		"local.packer_ver":  `true`,
		"local.conditional": `"yes"`,
		"local.for_expr":    `["A", "B"]`,
		"local.for_map":     `{a = 2}`,
		"local.splat":       `["a", "b"]`,
		"local.heredoc":     `"line one\nline two\n"`,
		"packer.version":    `"` + PackerVersion + `"`,
	})
}

func TestJSONTemplatesLoadLikeHCL(t *testing.T) {
	tpl := mustLoad(t, LoadOptions{Path: validDir + "json/template.pkr.json"})
	plans, diags := tpl.Plans(nil, nil)
	if diags.HasErrors() || len(plans) != 1 {
		t.Fatalf("plans: %d, %s", len(plans), diagsText(diags))
	}
	cfg := plans[0].Builder.Config().(*testBuilderConfig)
	if cfg.Image != "json-image:latest" || !reflect.DeepEqual(cfg.Changes, []string{"A", "B"}) {
		t.Errorf("config = %+v", cfg)
	}
}

func planNames(plans []*BuildPlan) []string {
	var out []string
	for _, p := range plans {
		out = append(out, p.Name)
	}
	return out
}

func TestPlansFollowBuildsSourcesOverridesAndFilters(t *testing.T) {
	tpl := mustLoad(t, LoadOptions{Path: validDir + "builds"})
	plans, diags := tpl.Plans(nil, nil)
	if diags.HasErrors() {
		t.Fatal(diagsText(diags))
	}
	want := []string{"test-builder.one", "test-builder.two", "named.test-builder.renamed", "hcp.test-builder.two"}
	if got := planNames(plans); !reflect.DeepEqual(got, want) {
		t.Fatalf("plans = %q; want %q", got, want)
	}
	one, two, named := plans[0], plans[1], plans[2]

	c1 := one.Builder.Config().(*testBuilderConfig)
	if c1.Image != "base:v1" || c1.Timeout != 2*time.Minute || c1.SSHTimeout != 30*time.Second ||
		c1.Labels["role"] != "one" || len(c1.Devices) != 2 || c1.Devices[1].VolumeSize != 16 || c1.Pull != nil {
		t.Errorf("one's config = %+v", c1)
	}
	if c2 := two.Builder.Config().(*testBuilderConfig); c2.Pull == nil || !*c2.Pull {
		t.Errorf("two's pull = %v; want true", c2.Pull)
	}
	cn := named.Builder.Config().(*testBuilderConfig)
	if cn.Image != "base:v1" || cn.Count != 3 || cn.Labels["role"] != "renamed" || named.SourceName != "renamed" || named.BuildName != "named" {
		t.Errorf("named's config = %+v (source %q)", cn, named.SourceName)
	}

	inline := func(p *ProvisionerPlan, gen plugin.GeneratedData) []string {
		t.Helper()
		prov, diags := p.Configure(gen)
		if diags.HasErrors() {
			t.Fatal(diagsText(diags))
		}
		return prov.Config().(*testProvConfig).Inline
	}
	if n := len(one.Provisioners); n != 3 {
		t.Fatalf("one has %d provisioners; want 3 (only/except applied)", n)
	}
	if got := inline(one.Provisioners[0], plugin.GeneratedData{"ID": "c-123"}); got[0] != "echo one c-123" {
		t.Errorf("late-bound build.ID: %q", got)
	}
	if p := one.Provisioners[1]; p.Name != "only-one" || p.PauseBefore != 5*time.Second || p.MaxRetries != 2 || p.Timeout != time.Minute {
		t.Errorf("provisioner meta = %+v", p)
	}
	if got := inline(two.Provisioners[1], nil); got[0] != "not one" {
		t.Errorf("except: %q", got)
	}
	if got := inline(two.Provisioners[2], nil); got[0] != "overridden for two" {
		t.Errorf("override for two: %q", got)
	}
	if got := inline(one.Provisioners[2], nil); got[0] != "default" {
		t.Errorf("no override for one: %q", got)
	}
	if one.ErrorCleanup == nil {
		t.Error("error-cleanup-provisioner missing")
	}
	if len(one.PostProcessors) != 2 || len(one.PostProcessors[1]) != 1 || len(two.PostProcessors[1]) != 2 {
		t.Errorf("post-processor chains: one %d/%d, two %d", len(one.PostProcessors), len(one.PostProcessors[1]), len(two.PostProcessors[1]))
	}
	if k := two.PostProcessors[1][0].KeepInputArtifact; k == nil || !*k {
		t.Errorf("keep_input_artifact = %v", k)
	}
	// build.name is the build block's name: "" when it has none, as in Packer.
	pp, diags := one.PostProcessors[0][0].Configure(plugin.GeneratedData{"ID": "c-1"})
	if diags.HasErrors() {
		t.Fatal(diagsText(diags))
	}
	if out := pp.Config().(*testPPConfig).Output; out != "single-" {
		t.Errorf("build.name in an unnamed build: output = %q; want %q", out, "single-")
	}
	prov, _ := named.Provisioners[0].Configure(nil)
	if s := prov.Config().(*testProvConfig).Script; s != "s-renamed-named" {
		t.Errorf("source.name/build.name in a named build: %q", s)
	}
}

func TestOnlyAndExceptSelectBuildsByGlob(t *testing.T) {
	tpl := mustLoad(t, LoadOptions{Path: validDir + "builds"})
	for _, tc := range []struct {
		only, except []string
		want         []string
	}{
		{only: []string{"test-builder.one"}, want: []string{"test-builder.one"}},
		{only: []string{"named.*"}, want: []string{"named.test-builder.renamed"}},
		{only: []string{"*.two"}, want: []string{"test-builder.two", "hcp.test-builder.two"}},
		{except: []string{"*.two", "named.*"}, want: []string{"test-builder.one"}},
	} {
		plans, diags := tpl.Plans(tc.only, tc.except)
		if diags.HasErrors() {
			t.Fatal(diagsText(diags))
		}
		if got := planNames(plans); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("only=%q except=%q: %q; want %q", tc.only, tc.except, got, tc.want)
		}
	}
}

func TestHCPRegistryIsAcceptedWithAWarning(t *testing.T) {
	_, diags := Load(context.Background(), LoadOptions{Path: validDir + "builds"})
	found := false
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning && strings.Contains(d.Summary, "hcp_packer_registry") {
			found = true
		}
	}
	if !found || diags.HasErrors() {
		t.Errorf("diags = %s", diagsText(diags))
	}
}

func TestDataSourcesAreUnknownUnlessEvaluated(t *testing.T) {
	for _, tc := range []struct {
		evaluate           bool
		wantLocal, wantImg string
	}{
		{false, "<unknown>", hcldecode.UnknownPlaceholder},
		{true, `"id-id-a!"`, "id-id-a!"},
	} {
		tpl := mustLoad(t, LoadOptions{Path: validDir + "datasources", EvaluateDataSources: tc.evaluate})
		v, diags := tpl.Evaluate("local.derived")
		if diags.HasErrors() || FormatValue(v) != tc.wantLocal {
			t.Errorf("evaluate=%v: local.derived = %s %s; want %s", tc.evaluate, FormatValue(v), diagsText(diags), tc.wantLocal)
		}
		plans, diags := tpl.Plans(nil, nil)
		if diags.HasErrors() {
			t.Fatal(diagsText(diags))
		}
		if img := plans[0].Builder.Config().(*testBuilderConfig).Image; img != tc.wantImg {
			t.Errorf("evaluate=%v: image = %q; want %q", tc.evaluate, img, tc.wantImg)
		}
	}
}

func TestExceptAlsoDropsPostProcessorsByName(t *testing.T) {
	tpl := mustLoad(t, LoadOptions{Path: validDir + "builds"})
	plans, diags := tpl.Plans([]string{"test-builder.two"}, []string{"test-pp"})
	if diags.HasErrors() || len(plans) != 1 {
		t.Fatalf("%d plans, %s", len(plans), diagsText(diags))
	}
	if n := len(plans[0].PostProcessors); n != 0 {
		t.Errorf("%d post-processor chains left; want none", n)
	}
}
