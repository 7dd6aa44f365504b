package cli

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/template"
)

func init() { register(newConsoleCmd) }

func newConsoleCmd(s *Streams) *cobra.Command {
	var tf templateFlags
	cmd := &cobra.Command{
		Use:   "console [flags] [PATH]",
		Short: "Evaluate expressions against a template",
		Long: "Read expressions, one a line, and print their values, with the template's\n" +
			"variables, locals, data sources (not executed), path.*, packer.version and\n" +
			"every function available. Without PATH only the functions are. Reads from a\n" +
			"terminal interactively (type exit or Ctrl-D to leave), or from piped input,\n" +
			"where the first error ends it with exit status 1.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t *template.Template
			if len(args) == 1 {
				var err error
				if t, err = tf.load(cmd.Context(), s, args[0], false); err != nil {
					return err
				}
			} else {
				t = template.Empty(cmd.Context())
			}
			return runConsole(s, t)
		},
	}
	tf.add(cmd)
	return cmd
}

func runConsole(s *Streams, t *template.Template) error {
	interactive := false
	if f, ok := s.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		interactive = true
	}
	sc := bufio.NewScanner(s.In)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for {
		if interactive {
			fmt.Fprint(s.Out, "> ")
		}
		if !sc.Scan() {
			break
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if interactive && (line == "exit" || line == "quit") {
			return nil
		}
		v, diags := t.Evaluate(line)
		if diags.HasErrors() {
			writeDiagnostics(s.Err, t.Files(), diags)
			if !interactive {
				return exitCode(1)
			}
			continue
		}
		fmt.Fprintln(s.Out, secret.Mask(template.FormatValue(v)))
	}
	if interactive {
		fmt.Fprintln(s.Out)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading expressions: %w", err)
	}
	return nil
}
