package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { register(newValidateCmd) }

func newValidateCmd(s *Streams) *cobra.Command {
	var (
		tf          templateFlags
		syntaxOnly  bool
		evalData    bool
		machineRead bool
	)
	cmd := &cobra.Command{
		Use:   "validate [flags] PATH",
		Short: "Check that a template is valid",
		Long: "Check that a template (a *.pkr.hcl or *.pkr.json file, or a directory of them)\n" +
			"is valid: its syntax, its variables, and every source, provisioner and\n" +
			"post-processor's options. Exits 0 when valid, 1 otherwise.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := tf.options(args[0], evalData)
			opts.SyntaxOnly = syntaxOnly
			defer tf.closePlugins()
			t, err := tf.loadWith(cmd.Context(), s, opts)
			if err != nil {
				return err
			}
			if syntaxOnly {
				fmt.Fprintln(s.Out, "Syntax-only check passed. Everything looks okay.")
				return nil
			}
			_, diags := t.Plans(tf.only, tf.except)
			writeDiagnostics(s.Err, t.Files(), diags)
			if diags.HasErrors() {
				return exitCode(1)
			}
			fmt.Fprintln(s.Out, "The configuration is valid.")
			return nil
		},
	}
	tf.add(cmd)
	cmd.Flags().BoolVar(&syntaxOnly, "syntax-only", false, "only check the syntax, not the values")
	cmd.Flags().BoolVar(&evalData, "evaluate-datasources", false, "execute data sources (they are not run by default)")
	cmd.Flags().BoolVar(&machineRead, "machine-readable", false, "accepted for compatibility with Packer")
	return cmd
}
