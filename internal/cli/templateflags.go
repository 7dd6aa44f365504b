package cli

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/template"
)

// templateFlags are the flags every command that loads a template takes:
// -var, -var-file (kept in command-line order, a later one wins), -only
// and -except.
type templateFlags struct {
	vars             []template.VarArg
	only, except     []string
	noWarnUndeclared bool
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
	return template.LoadOptions{Path: path, Vars: f.vars, Env: os.Environ(), EvaluateDataSources: evalData}
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
