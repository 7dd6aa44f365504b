package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/srcfile"
	"github.com/imgbuild/imgbuild/internal/template/hcldecode"
	"github.com/imgbuild/imgbuild/internal/template/legacy"
)

func init() { register(newHCL2UpgradeCmd) }

func newHCL2UpgradeCmd(s *Streams) *cobra.Command {
	var (
		output      string
		annotations bool
	)
	cmd := &cobra.Command{
		Use:   "hcl2_upgrade [-with-annotations] [-output-file FILE] TEMPLATE.json",
		Short: "Write a legacy JSON template as an HCL2 template",
		Long: "hcl2_upgrade writes the legacy JSON template as an HCL2 template, by default\n" +
			"TEMPLATE.json.pkr.hcl beside it: variables, one source per builder, a build\n" +
			"with the provisioners and post-processors, and a local for {{timestamp}}.\n" +
			"Options of built-in plugins that are blocks are written as blocks; for other\n" +
			"plugins, lists of objects are blocks and objects are maps.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			src, err := srcfile.Read(path)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			if !legacy.Is(src) {
				return &ExitError{Code: 1, Err: fmt.Errorf("%s is not a legacy JSON template (a JSON object with a \"builders\" array)", path)}
			}
			if output == "" {
				output = path + ".pkr.hcl"
			}
			dir, _ := filepath.Abs(filepath.Dir(path))
			wd, _ := os.Getwd()
			text, diags := legacy.Upgrade(path, src, legacy.Options{Env: os.Environ(), TemplateDir: dir, WorkDir: wd}, builtinSchema, annotations)
			if diags.HasErrors() {
				files := map[string]*hcl.File{path: {Bytes: src}}
				writeDiagnostics(s.Err, files, diags)
				return exitCode(1)
			}
			if err := os.WriteFile(output, text, 0o644); err != nil {
				return &ExitError{Code: 1, Err: errors.New("writing the HCL2 template: " + err.Error())}
			}
			fmt.Fprintf(s.Out, "Successfully created %s\n", output)
			return nil
		},
	}
	cmd.Flags().StringVar(&output, "output-file", "", "where to write the HCL2 template (default TEMPLATE.json.pkr.hcl)")
	cmd.Flags().BoolVar(&annotations, "with-annotations", false, "write comments that explain each block")
	return cmd
}

// builtinSchema gives the blocks of a built-in component's options.
func builtinSchema(kind, typ string) *legacy.Schema {
	k := map[string]plugin.Kind{"builder": plugin.KindBuilder, "provisioner": plugin.KindProvisioner, "post-processor": plugin.KindPostProcessor}[kind]
	c, ok := plugin.Builtins().New(k, typ)
	if !ok || c.Config() == nil {
		return nil
	}
	return toSchema(hcldecode.ShapeOf(c.Config()))
}

func toSchema(sh *hcldecode.Shape) *legacy.Schema {
	if sh == nil {
		return nil
	}
	s := &legacy.Schema{Blocks: map[string]*legacy.Schema{}, Attrs: sh.Attrs}
	for name, inner := range sh.Blocks {
		s.Blocks[name] = toSchema(inner)
	}
	return s
}
