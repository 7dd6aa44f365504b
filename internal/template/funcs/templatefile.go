package funcs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/imgbuild/imgbuild/internal/srcfile"
)

// makeTemplateFileFunc builds templatefile(path, vars): it renders the file
// at path (relative to baseDir) as an HCL string template whose variables
// are the keys of vars and whose functions are those of fns, except that
// templatefile itself may not be called from inside a template.
func makeTemplateFileFunc(baseDir string, fns map[string]function.Function) function.Function {
	return function.New(&function.Spec{
		Description: "Renders the file at path as a template with the given variables.",
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType},
		},
		Type: func(args []cty.Value) (cty.Type, error) {
			if ty := args[1].Type(); !(ty.IsMapType() || ty.IsObjectType() || ty == cty.DynamicPseudoType) {
				return cty.NilType, function.NewArgErrorf(1, "vars must be a map or an object, not %s", ty.FriendlyName())
			}
			return cty.DynamicPseudoType, nil
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			vars := args[1]
			if !vars.IsKnown() {
				return cty.DynamicVal, nil
			}
			if vars.IsNull() {
				return cty.NilVal, function.NewArgErrorf(1, "vars must not be null; pass {} for a template without variables")
			}
			return renderTemplateFile(baseDir, args[0].AsString(), vars, templateFunctions(fns))
		},
	})
}

// templateFunctions is fns with templatefile replaced by a function that
// refuses to recurse.
func templateFunctions(fns map[string]function.Function) map[string]function.Function {
	out := make(map[string]function.Function, len(fns))
	for k, v := range fns {
		out[k] = v
	}
	out["templatefile"] = function.New(&function.Spec{
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType},
		},
		Type: func([]cty.Value) (cty.Type, error) {
			return cty.NilType, errors.New("cannot call templatefile from inside a template rendered by templatefile")
		},
	})
	return out
}

func renderTemplateFile(baseDir, path string, vars cty.Value, fns map[string]function.Function) (cty.Value, error) {
	full := path
	if !filepath.IsAbs(full) {
		full = filepath.Join(baseDir, full)
	}
	src, err := srcfile.Read(full)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return cty.NilVal, function.NewArgErrorf(0, "template file %s does not exist", full)
		}
		return cty.NilVal, function.NewArgErrorf(0, "reading template file: %s", err)
	}
	if !utf8.Valid(src) {
		return cty.NilVal, function.NewArgErrorf(0, "template file %s is not valid UTF-8 text", full)
	}
	expr, diags := hclsyntax.ParseTemplate(src, path, hcl.Pos{Line: 1, Column: 1, Byte: 0})
	if diags.HasErrors() {
		return cty.NilVal, function.NewArgErrorf(0, "parsing template file: %s", diags.Error())
	}

	varMap := map[string]cty.Value{}
	for it := vars.ElementIterator(); it.Next(); {
		k, v := it.Element()
		name := k.AsString()
		if !hclsyntax.ValidIdentifier(name) {
			return cty.NilVal, function.NewArgErrorf(1, "invalid template variable name %q: a name must start with a letter and contain only letters, digits, underscores and dashes", name)
		}
		varMap[name] = v
	}
	// Report every missing variable with its location rather than HCL's
	// generic "unknown variable".
	for _, tr := range expr.Variables() {
		name := tr.RootName()
		if _, ok := varMap[name]; !ok {
			return cty.NilVal, function.NewArgErrorf(1, "vars map does not contain key %q, referenced at %s", name, tr.SourceRange())
		}
	}

	val, diags := expr.Value(&hcl.EvalContext{Variables: varMap, Functions: fns})
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("rendering template file: %s", diags.Error())
	}
	return val, nil
}
