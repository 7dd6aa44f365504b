package template

import (
	"context"
	"os"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// Empty returns a template with no files: only path.*, packer.version
// and the functions. `imgbuild console` without a path uses it.
func Empty(ctx context.Context) *Template {
	t := &Template{
		ctx:         ctx,
		parser:      hclparse.NewParser(),
		baseDir:     ".",
		variables:   map[string]*Variable{},
		locals:      map[string]*Local{},
		datas:       map[string]*DataSource{},
		sources:     map[string]*Source{},
		varValues:   map[string]cty.Value{},
		localValues: map[string]cty.Value{},
		dataValues:  map[string]map[string]cty.Value{},
		catalog:     plugin.Builtins(),
	}
	t.cwd, _ = os.Getwd()
	return t
}
