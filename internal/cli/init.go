package cli

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/template"
)

func init() { register(newInitCmd) }

func newInitCmd(s *Streams) *cobra.Command {
	var upgrade bool
	cmd := &cobra.Command{
		Use:   "init [flags] PATH",
		Short: "Check that every required plugin is built in",
		Long: "Packer's init installs the plugins a template's required_plugins block names.\n" +
			"imgbuild's plugins are built in, so init only checks that each one is: it\n" +
			"succeeds when all are, and names the ones that are not. CI pipelines that\n" +
			"run `packer init` first keep working.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, diags := template.Load(cmd.Context(), template.LoadOptions{Path: args[0], SyntaxOnly: true})
			var errs hcl.Diagnostics
			for _, d := range diags {
				// Missing variable values do not matter to init, and the
				// report below replaces the plugin warnings.
				if d.Severity == hcl.DiagError {
					errs = append(errs, d)
				}
			}
			writeDiagnostics(s.Err, t.Files(), errs)
			if errs.HasErrors() {
				return exitCode(1)
			}
			var missing []string
			for _, rp := range t.RequiredPlugins() {
				if rp.BuiltIn {
					fmt.Fprintf(s.Out, "%s (%s %s) is built into imgbuild\n", rp.Source, rp.Name, rp.Version)
				} else {
					missing = append(missing, rp.Source)
				}
			}
			if len(missing) > 0 {
				fmt.Fprintf(s.Err, "Error: plugins not built into imgbuild: %s\n\n"+
					"imgbuild has the amazon, docker and qemu plugins built in and cannot install\n"+
					"others. Remove these entries from required_plugins, or use Packer for them.\n",
					strings.Join(missing, ", "))
				return exitCode(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&upgrade, "upgrade", false, "accepted for compatibility with Packer; plugins are built in")
	return cmd
}
