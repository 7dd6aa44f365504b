package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/template"
)

func init() { register(newInspectCmd) }

func newInspectCmd(s *Streams) *cobra.Command {
	var tf templateFlags
	cmd := &cobra.Command{
		Use:   "inspect [flags] PATH",
		Short: "Show a template's variables, locals, sources and builds",
		Long: "Show what a template holds: its input variables (sensitive values masked),\n" +
			"locals, data sources, sources, and each build with its provisioners and\n" +
			"post-processor chains. Data sources are not executed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer tf.closePlugins()
			t, err := tf.load(cmd.Context(), s, args[0], false)
			if err != nil {
				return err
			}
			writeInspect(s.Out, t)
			return nil
		},
	}
	tf.add(cmd)
	return cmd
}

func writeInspect(w io.Writer, t *template.Template) {
	fmt.Fprintln(w, "imgbuild inspect: HCL2 mode")
	fmt.Fprintln(w)
	writeVariables(w, t)
	if ds := t.DataSources(); len(ds) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "> data-sources:")
		fmt.Fprintln(w)
		for _, d := range ds {
			fmt.Fprintf(w, "data.%s.%s\n", d.Type, d.Name)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "> sources:")
	fmt.Fprintln(w)
	for _, src := range t.Sources() {
		fmt.Fprintf(w, "  %s\n", src.Ref())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "> builds:")
	for i, b := range t.Builds() {
		fmt.Fprintln(w)
		name := b.Name
		if name == "" {
			name = fmt.Sprintf("<unnamed build %d>", i)
		}
		fmt.Fprintf(w, "  > %s:\n", name)
		if b.Description != "" {
			fmt.Fprintf(w, "\n    description: %s\n", b.Description)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "    sources:")
		fmt.Fprintln(w)
		for _, use := range b.Sources {
			fmt.Fprintf(w, "      %s\n", b.FullName(use))
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "    provisioners:")
		fmt.Fprintln(w)
		for _, p := range b.Provisioners {
			fmt.Fprintf(w, "      %s\n", describeBlock(p.Type, p.Name, p.Only, p.Except))
		}
		if b.ErrorCleanup != nil {
			fmt.Fprintf(w, "      %s (error-cleanup-provisioner)\n", b.ErrorCleanup.Type)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "    post-processors:")
		fmt.Fprintln(w)
		for i, chain := range b.PostProcessors {
			fmt.Fprintf(w, "      %d:\n", i)
			for _, pp := range chain {
				fmt.Fprintf(w, "        %s\n", describeBlock(pp.Type, pp.Name, pp.Only, pp.Except))
			}
		}
	}
	fmt.Fprintln(w)
}

func describeBlock(typ, name string, only, except []string) string {
	s := typ
	if name != "" {
		s += fmt.Sprintf(" (%s)", name)
	}
	if len(only) > 0 {
		s += " only: " + strings.Join(only, ", ")
	}
	if len(except) > 0 {
		s += " except: " + strings.Join(except, ", ")
	}
	return s
}

// indentRest indents every line after the first, for multi-line values.
func indentRest(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }

// writeVariables lists the input variables and locals with their values,
// sensitive ones masked: inspect's first sections, and console's
// "variables" command.
func writeVariables(w io.Writer, t *template.Template) {
	fmt.Fprintln(w, "> input-variables:")
	fmt.Fprintln(w)
	for _, v := range t.Variables() {
		val := template.FormatValue(v.Value)
		if v.Sensitive {
			val = `"<sensitive>"`
		}
		fmt.Fprintf(w, "var.%s: %s\n", v.Name, indentRest(val))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "> local-variables:")
	fmt.Fprintln(w)
	for _, l := range t.Locals() {
		val := template.FormatValue(l.Value)
		if l.Sensitive {
			val = `"<sensitive>"`
		}
		fmt.Fprintf(w, "local.%s: %s\n", l.Name, indentRest(val))
	}
}
