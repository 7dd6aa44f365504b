package pluginhost

import (
	"context"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/pluginhost/installed"
)

// builtinAMI stands for a data source compiled into imgbuild.
type builtinAMI struct{}

func (builtinAMI) Config() any                                { return &struct{}{} }
func (builtinAMI) Prepare() ([]string, error)                 { return nil, nil }
func (builtinAMI) OutputType() cty.Type                       { return cty.EmptyObject }
func (builtinAMI) Execute(context.Context) (cty.Value, error) { return cty.EmptyObjectVal, nil }

// oneBuiltin is a catalog with one built-in data source, "amazon-ami".
type oneBuiltin struct{}

func (oneBuiltin) Has(kind plugin.Kind, typ string) bool {
	return kind == plugin.KindDataSource && typ == "amazon-ami"
}
func (oneBuiltin) Types(kind plugin.Kind) []string {
	if kind == plugin.KindDataSource {
		return []string{"amazon-ami"}
	}
	return nil
}
func (b oneBuiltin) New(kind plugin.Kind, typ string) (plugin.Configurable, bool) {
	if !b.Has(kind, typ) {
		return nil, false
	}
	return builtinAMI{}, true
}

// An installed plugin that serves a type imgbuild has built in does not
// replace it; its other types come from the plugin, side by side with the
// built-in ones (the amazon plugin's amazon-parameterstore beside the
// built-in amazon-ami). Nothing is started to tell.
func TestABuiltInTypeStaysBuiltInBesideThePluginsOtherTypes(t *testing.T) {
	p := &installed.Plugin{}
	comps := map[installed.Kind]map[string]installed.Component{installed.Datasource: {
		"amazon-ami":            {Kind: installed.Datasource, Type: "amazon-ami", Name: "ami", Plugin: p},
		"amazon-parameterstore": {Kind: installed.Datasource, Type: "amazon-parameterstore", Name: "parameterstore", Plugin: p},
	}}
	h := New(nil, Options{})
	defer h.Close()
	cat := h.CatalogOf(oneBuiltin{}, comps)

	if c, ok := cat.New(plugin.KindDataSource, "amazon-ami"); !ok {
		t.Fatal("amazon-ami is unknown")
	} else if _, builtin := c.(builtinAMI); !builtin {
		t.Errorf("amazon-ami is %T, want the built-in one", c)
	}
	if c, ok := cat.New(plugin.KindDataSource, "amazon-parameterstore"); !ok {
		t.Fatal("amazon-parameterstore is unknown")
	} else if _, external := c.(*DataSource); !external {
		t.Errorf("amazon-parameterstore is %T, want the plugin's", c)
	}
	if got := cat.Types(plugin.KindDataSource); len(got) != 2 || got[0] != "amazon-ami" || got[1] != "amazon-parameterstore" {
		t.Errorf("Types = %v, want each type once", got)
	}
	if cat.Has(plugin.KindBuilder, "amazon-ami") {
		t.Error("a data source type answers as a builder")
	}
}
