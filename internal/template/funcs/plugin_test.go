package funcs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// A plugin's function replaces the built-in placeholder of the same name,
// and templates rendered by templatefile can call it too.
func TestPluginFunctionReplacesPlaceholder(t *testing.T) {
	plugin.RegisterFunction("consul_key", function.New(&function.Spec{
		Params: []function.Parameter{{Name: "key", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal("consul:" + args[0].AsString()), nil
		},
	}))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.pkrtpl"), []byte(`${consul_key(k)}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for expr, want := range map[string]string{
		`consul_key("myservice/version")`:       "consul:myservice/version",
		`templatefile("t.pkrtpl", {k = "a/b"})`: "consul:a/b",
	} {
		got, diags := eval(t, dir, expr, nil)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", expr, diags.Error())
		}
		if got.AsString() != want {
			t.Errorf("%s = %q, want %q", expr, got.AsString(), want)
		}
	}
}
