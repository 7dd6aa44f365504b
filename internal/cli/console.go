package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
			"Reads from a terminal interactively, with line editing and history (the\n" +
			"arrow keys, Ctrl-A/E/K/U/W; exit or Ctrl-D leaves), or from piped input,\n" +
			"where the first error ends it with exit status 1. The commands help,\n" +
			"variables and exit work as in packer console.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t *template.Template
			if len(args) == 1 {
				var err error
				// Data sources run, as in a build: console is where users
				// check what they return.
				defer tf.closePlugins()
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
	in, restore := openConsoleInput(s)
	defer restore()
	return consoleLoop(in, t)
}

// consoleInput is where the console reads lines and writes what it says.
type consoleInput struct {
	readLine    func() (string, error)
	out, errOut io.Writer
	// interactive: an error does not end the session, and a prompt is
	// shown.
	interactive bool
}

// openConsoleInput reads a terminal with line editing and history (the
// arrows, Ctrl-A/E/K/U/W; x/term's Terminal, in raw mode until restore),
// anything else line by line.
func openConsoleInput(s *Streams) (consoleInput, func()) {
	onTerminal := false
	if f, ok := s.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if old, err := term.MakeRaw(int(f.Fd())); err == nil {
			return terminalInput(s.In, s.Out), func() { term.Restore(int(f.Fd()), old) }
		}
		onTerminal = true // a terminal that refused raw mode: no editing
	}
	sc := bufio.NewScanner(s.In)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	read := func() (string, error) {
		if onTerminal {
			fmt.Fprint(s.Out, "> ")
		}
		if sc.Scan() {
			return sc.Text(), nil
		}
		if err := sc.Err(); err != nil {
			return "", fmt.Errorf("reading expressions: %w", err)
		}
		return "", io.EOF
	}
	return consoleInput{readLine: read, out: s.Out, errOut: s.Err, interactive: onTerminal}, func() {}
}

// terminalInput edits lines on a terminal in raw mode. Everything the
// console writes goes through the Terminal, which ends lines with \r\n.
func terminalInput(in io.Reader, out io.Writer) consoleInput {
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, out}, "> ")
	return consoleInput{readLine: t.ReadLine, out: t, errOut: t, interactive: true}
}

func consoleLoop(in consoleInput, t *template.Template) error {
	for {
		line, err := in.readLine()
		if errors.Is(err, io.EOF) { // Ctrl-D, Ctrl-C, or the end of piped input
			if in.interactive {
				fmt.Fprintln(in.out)
			}
			return nil
		}
		if err != nil {
			return err
		}
		line = strings.TrimSpace(line)
		switch line {
		case "":
			continue
		case "exit", "quit":
			return nil
		case "help":
			fmt.Fprintln(in.out, consoleHelp)
			continue
		case "variables":
			var sb strings.Builder
			writeVariables(&sb, t)
			fmt.Fprint(in.out, secret.Mask(sb.String()))
			continue
		}
		v, diags := t.Evaluate(line)
		if diags.HasErrors() {
			writeDiagnostics(in.errOut, t.Files(), diags)
			if !in.interactive {
				return exitCode(1)
			}
			continue
		}
		fmt.Fprintln(in.out, secret.Mask(consoleValue(v)))
	}
}

// consoleValue shows a value as packer console does: a string on its own
// unquoted (so output can be piped on), anything else as FormatValue does.
func consoleValue(v cty.Value) string {
	if !v.IsMarked() && v.IsKnown() && !v.IsNull() && v.Type() == cty.String {
		return v.AsString()
	}
	return template.FormatValue(v)
}
