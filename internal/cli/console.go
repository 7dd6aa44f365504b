package cli

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
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
			"variables, locals, data sources, path.*, packer.version and every function\n" +
			"available. Data sources are executed, as in a build, so their values are\n" +
			"real; sensitive values are masked. Without PATH only the functions are.\n" +
			"Reads from a terminal interactively (type exit or Ctrl-D to leave), or from\n" +
			"piped input, where the first error ends it with exit status 1. The commands\n" +
			"help, variables and exit work as in packer console.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t *template.Template
			if len(args) == 1 {
				var err error
				// Data sources run, as in a build: console is where users
				// check what they return.
				if t, err = tf.load(cmd.Context(), s, args[0], true); err != nil {
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

// consoleHelp is what the console's "help" command prints.
const consoleHelp = `imgbuild console evaluates HCL2 expressions against the template it was
started with: var.*, local.*, data.*, path.*, packer.version and every
function, for example upper(var.name) or data.amazon-ami.base.id.

  variables  lists the input variables and locals with their values
  help       prints this text
  exit       leaves the console (so does Ctrl-D)`

// runConsole evaluates one expression a line. Like packer console, it also
// takes the commands help, variables and exit.
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
		switch line {
		case "exit", "quit":
			return nil
		case "help":
			fmt.Fprintln(s.Out, consoleHelp)
			continue
		case "variables":
			var sb strings.Builder
			writeVariables(&sb, t)
			fmt.Fprint(s.Out, secret.Mask(sb.String()))
			continue
		}
		v, diags := t.Evaluate(line)
		if diags.HasErrors() {
			writeDiagnostics(s.Err, t.Files(), diags)
			if !interactive {
				return exitCode(1)
			}
			continue
		}
		fmt.Fprintln(s.Out, secret.Mask(consoleValue(v)))
	}
	if interactive {
		fmt.Fprintln(s.Out)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading expressions: %w", err)
	}
	return nil
}

// consoleValue shows a value as packer console does: a string on its own
// unquoted (so output can be piped on), anything else as FormatValue does.
func consoleValue(v cty.Value) string {
	if !v.IsMarked() && v.IsKnown() && !v.IsNull() && v.Type() == cty.String {
		return v.AsString()
	}
	return template.FormatValue(v)
}
