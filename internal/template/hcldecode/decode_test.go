package hcldecode

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

type comm struct {
	Type    string        `hcl:"communicator,optional"`
	Timeout time.Duration `hcl:"ssh_timeout,optional"`
}

type tag struct {
	Key   string `hcl:"key"`
	Value string `hcl:"value,optional"`
}

type filter struct {
	Name   string   `hcl:"name,label"`
	Owners []string `hcl:"owners,optional"`
}

type config struct {
	Image   string            `hcl:"image"`
	Pull    *bool             `hcl:"pull,optional"`
	Size    *int              `hcl:"size,optional"`
	Ratio   float64           `hcl:"ratio,optional"`
	Wait    time.Duration     `hcl:"wait,optional"`
	Changes []string          `hcl:"changes,optional"`
	Labels  map[string]string `hcl:"labels,optional"`
	Raw     cty.Value         `hcl:"raw,optional"`
	Tags    []tag             `hcl:"tag,block"`
	Filter  *filter           `hcl:"filter,block"`
	Ptrs    []*tag            `hcl:"ptr,block"`
	Any     any               `hcl:"any,optional"`
	comm
}

func decode(t *testing.T, src string, ctx *hcl.EvalContext, opts Options) (*config, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var c config
	return &c, Decode(f.Body, ctx, &c, opts)
}

func TestDecodeFillsEveryKindOfField(t *testing.T) {
	c, diags := decode(t, `
image        = "alpine"
pull         = false
size         = 0
ratio        = 1.5
wait         = "1h30s"
changes      = ["a", "b"]
labels       = { a = "1", b = 2 }
raw          = { any = ["thing"] }
any          = [1, "x"]
communicator = "ssh"
ssh_timeout  = 90
tag {
  key = "k1"
}
tag {
  key   = "k2"
  value = "v2"
}
filter "f" {
  owners = ["me"]
}
ptr {
  key = "p"
}
`, nil, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := &config{
		Image: "alpine", Ratio: 1.5, Wait: time.Hour + 30*time.Second,
		Changes: []string{"a", "b"}, Labels: map[string]string{"a": "1", "b": "2"},
		Tags:   []tag{{Key: "k1"}, {Key: "k2", Value: "v2"}},
		Filter: &filter{Name: "f", Owners: []string{"me"}},
		Ptrs:   []*tag{{Key: "p"}},
		Any:    []any{int64(1), "x"},
		comm:   comm{Type: "ssh", Timeout: 90 * time.Second},
	}
	if c.Pull == nil || *c.Pull || c.Size == nil || *c.Size != 0 {
		t.Errorf("pointers: pull %v size %v; want set to false and 0", c.Pull, c.Size)
	}
	if !c.Raw.Type().IsObjectType() {
		t.Errorf("raw = %#v", c.Raw)
	}
	c.Pull, c.Size, c.Raw = nil, nil, cty.NilVal
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestDecodeLeavesUnsetPointersNil(t *testing.T) {
	c, diags := decode(t, `image = "x"`, nil, Options{})
	if diags.HasErrors() || c.Pull != nil || c.Size != nil || c.Filter != nil {
		t.Errorf("%+v %v", c, diags)
	}
}

func TestDecodeReportsMistakesWithLocationAndSuggestion(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
		line            int
	}{
		{"typo in an embedded option", "image = \"x\"\ncommunicatr = \"ssh\"", `Did you mean "communicator"?`, 2},
		{"typo in a block name", "image = \"x\"\ntags {\n}", `Did you mean "tag"?`, 2},
		{"missing required", "pull = true", `"image" is required`, 1},
		{"wrong type", "image = \"x\"\nsize = \"big\"", `"size": a number is required`, 2},
		{"bad duration", "image = \"x\"\nwait = \"soon\"", `"soon" is not a duration`, 2},
		{"list for a string", "image = [\"x\"]", `a string is required`, 1},
		{"map for a list", "image = \"x\"\nchanges = { a = 1 }", `a list is required`, 2},
		{"two single blocks", "image = \"x\"\nfilter \"a\" {\n}\nfilter \"b\" {\n}", `Duplicate filter block`, 4},
		{"fraction for an int", "image = \"x\"\nsize = 1.5", `whole number`, 2},
		{"unknown value when not allowed", "image = var.later", `Value not known yet`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
				"var": cty.ObjectVal(map[string]cty.Value{"later": cty.UnknownVal(cty.String)}),
			}}
			_, diags := decode(t, tc.src, ctx, Options{})
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			d := diags[0]
			if !strings.Contains(d.Summary+" "+d.Detail, tc.want) {
				t.Errorf("error %q; want it to contain %q", d.Summary+" "+d.Detail, tc.want)
			}
			if d.Subject == nil || d.Subject.Start.Line != tc.line {
				t.Errorf("error at %v; want line %d", d.Subject, tc.line)
			}
		})
	}
}

func TestDecodeToleratesUnknownValuesWhenAsked(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"build": cty.UnknownVal(cty.DynamicPseudoType),
		"data":  cty.UnknownVal(cty.Object(map[string]cty.Type{"id": cty.String, "n": cty.Number})),
	}}
	c, diags := decode(t, `
image   = data.id
size    = data.n
wait    = build.Wait
changes = ["echo ${build.ID}", "plain"]
labels  = build.Labels
`, ctx, Options{AllowUnknown: true, UnknownString: UnknownPlaceholder})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if c.Image != UnknownPlaceholder || c.Size != nil || c.Wait != 0 || c.Labels != nil ||
		!reflect.DeepEqual(c.Changes, []string{UnknownPlaceholder, "plain"}) {
		t.Errorf("%+v", c)
	}
}

func TestDecodeExpandsDynamicBlocks(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"keys": cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}),
	}}
	c, diags := decode(t, `
image = "x"
dynamic "tag" {
  for_each = keys
  content {
    key   = tag.value
    value = "v-${tag.key}"
  }
}
`, ctx, Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if want := []tag{{"a", "v-0"}, {"b", "v-1"}}; !reflect.DeepEqual(c.Tags, want) {
		t.Errorf("tags %+v; want %+v", c.Tags, want)
	}
}

func TestParseDurationTakesPackerForms(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5m": 5 * time.Minute, "1h30s": time.Hour + 30*time.Second, "30": 30 * time.Second, "": 0, "1.5s": 1500 * time.Millisecond,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestNamesListsFlattenedOptions(t *testing.T) {
	names := Names(&config{})
	for _, want := range []string{"image", "communicator", "ssh_timeout", "tag", "filter"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("Names lacks %q: %v", want, names)
		}
	}
}

// schemaFor's claim: for the bodies it narrows, hcl's Content with the
// narrowed schema gives what it gives with the whole schema.
func TestSchemaForMatchesTheWholeSchema(t *testing.T) {
	info, err := infoFor(reflect.TypeOf(config{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		`image = "a"`,
		`pull = true`, // the required image is missing
		"image = \"a\"\ntag {\n  key = \"k\"\n}\ntag {\n  key = \"l\"\n}",
		"image = \"a\"\nfilter \"x\" {\n}",
		"image = \"a\"\nfilter {\n}",                       // missing label
		"image = \"a\"\ntag \"extra\" {\n  key = \"k\"\n}", // extraneous label
		`imgae = "a"`,               // unknown: the whole schema, for "did you mean"
		`tag = "a"`,                 // a block type used as an argument
		"image = \"a\"\nimage {\n}", // an argument used as a block
	} {
		f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		narrow, used := info.schemaFor(f.Body)
		gotContent, gotDiags := f.Body.Content(narrow)
		wantContent, wantDiags := f.Body.Content(info.schema)
		if gotDiags.Error() != wantDiags.Error() {
			t.Errorf("%q: diagnostics %q, want %q", src, gotDiags.Error(), wantDiags.Error())
		}
		if len(gotContent.Attributes) != len(wantContent.Attributes) || len(gotContent.Blocks) != len(wantContent.Blocks) {
			t.Errorf("%q: %d attributes and %d blocks, want %d and %d", src,
				len(gotContent.Attributes), len(gotContent.Blocks), len(wantContent.Attributes), len(wantContent.Blocks))
		}
		for name := range wantContent.Attributes {
			i, ok := info.attrPos[name]
			if !ok || !slices.Contains(used, i) {
				t.Errorf("%q: attribute %s is not among the fields decoded", src, name)
			}
		}
	}
}
