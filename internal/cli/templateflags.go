package cli

import (
	"context"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/pluginhost"
	"github.com/imgbuild/imgbuild/internal/pluginhost/installed"
	"github.com/imgbuild/imgbuild/internal/template"
)

// templateFlags are the flags every command that loads a template takes:
// -var, -var-file (kept in command-line order, a later one wins), -only
// and -except.
type templateFlags struct {
	vars             []template.VarArg
	only, except     []string
	noWarnUndeclared bool
	// debug, force and onError are build's flags, which plugins get too.
	debug, force bool
	onError      string

	// plugins runs the installed Packer plugins the template uses; the
	// command closes it when it ends (closePlugins).
	plugins *pluginhost.Host
}

// varValue appends to the shared list, so -var and -var-file keep their
// relative order.
type varValue struct {
	list *[]template.VarArg
	file bool
}

func (v *varValue) String() string { return "" }
func (v *varValue) Type() string {
	if v.file {
		return "file"
	}
	return "name=value"
}
func (v *varValue) Set(s string) error {
	if v.file {
		*v.list = append(*v.list, template.VarArg{File: s})
	} else {
		*v.list = append(*v.list, template.VarArg{Assign: s})
	}
	return nil
}

func (f *templateFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Var(&varValue{list: &f.vars}, "var", "set a template variable (name=value); may be repeated")
	fl.Var(&varValue{list: &f.vars, file: true}, "var-file", "read template variables from an HCL or JSON file; may be repeated")
	fl.StringSliceVar(&f.only, "only", nil, "run only the builds whose names match these comma-separated globs")
	fl.StringSliceVar(&f.except, "except", nil, "skip the builds whose names match these comma-separated globs")
	fl.BoolVar(&f.noWarnUndeclared, "no-warn-undeclared-var", false, "do not warn about variables set in var files but not declared")
}

func (f *templateFlags) options(path string, evalData bool) template.LoadOptions {
	return template.LoadOptions{
		Path: path, Vars: f.vars, Env: os.Environ(), EvaluateDataSources: evalData,
		Debug: f.debug, Force: f.force, OnError: f.onError,
		Plugins: func(reqs []*template.RequiredPlugin) (plugin.Catalog, hcl.Diagnostics) {
			return f.openPlugins(templateDir(path), reqs)
		},
	}
}

// openPlugins finds the installed Packer plugins and names their
// components as the template's required_plugins say; no plugin starts
// until a block of its type is configured.
func (f *templateFlags) openPlugins(dir string, reqs []*template.RequiredPlugin) (plugin.Catalog, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	found, warnings, err := installed.Discover(context.Background(), pluginOptions(dir))
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot list the installed Packer plugins", Detail: err.Error()}}
	}
	for _, w := range warnings {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Installed plugin ignored", Detail: w})
	}
	var want []installed.Requirement
	for _, rp := range reqs {
		want = append(want, installed.Requirement{LocalName: rp.Name, Source: rp.Source, Constraint: rp.Version, Range: rp.Range, BuiltIn: rp.BuiltIn})
	}
	f.plugins = pluginhost.New(found, pluginhost.Options{Env: os.Environ()})
	cat, d := f.plugins.Catalog(plugin.Builtins(), want)
	return cat, append(diags, d...)
}

// closePlugins stops every plugin process the command started.
func (f *templateFlags) closePlugins() {
	if f.plugins != nil {
		f.plugins.Close()
		f.plugins = nil
	}
}

// templateDir is the folder of the template at path (a file or a folder).
func templateDir(path string) string {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return path
	}
	return filepath.Dir(path)
}

// load loads the template at path, prints its diagnostics (warnings too)
// to s.Err, and returns exitCode(1) when there are errors.
func (f *templateFlags) load(ctx context.Context, s *Streams, path string, evalData bool) (*template.Template, error) {
	return f.loadWith(ctx, s, f.options(path, evalData))
}

func (f *templateFlags) loadWith(ctx context.Context, s *Streams, opts template.LoadOptions) (*template.Template, error) {
	t, diags := template.Load(ctx, opts)
	if f.noWarnUndeclared {
		diags = dropUndeclaredWarnings(diags)
	}
	writeDiagnostics(s.Err, t.Files(), diags)
	if diags.HasErrors() {
		return t, exitCode(1)
	}
	return t, nil
}
