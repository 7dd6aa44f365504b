// Package cli holds imgbuild's commands. Each command lives in its own file
// and registers itself with register, so commands can be added without
// touching this file.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	// Every built-in plugin registers itself on import.
	_ "github.com/imgbuild/imgbuild/internal/plugins"
)

// Version is imgbuild's version, set at link time by the Makefile.
var Version = "0.1.0-dev"

// Streams are the command's standard streams.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// commandFactories are the subcommands registered by init functions.
var commandFactories []func(*Streams) *cobra.Command

func register(f func(*Streams) *cobra.Command) { commandFactories = append(commandFactories, f) }

// ExitError carries a specific exit code out of a command. Its message,
// when not empty, has not been printed yet.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// exitCode returns an error that makes imgbuild exit with code without
// printing anything more (the command printed its own diagnostics).
func exitCode(code int) error { return &ExitError{Code: code} }

// NewRoot builds the command tree.
func NewRoot(s *Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "imgbuild",
		Short: "Build machine images from Packer HCL2 templates",
		Long: "imgbuild builds machine images (Docker images, QEMU disk images, AMIs) from\n" +
			"Packer templates (*.pkr.hcl, *.pkr.json, legacy *.json). Packer's flags are accepted\n" +
			"with one dash or two: -var and --var are the same.\n\n" +
			"Environment:\n" +
			"  IMGBUILD_LOG=1          write a debug log to stderr (secrets masked)\n" +
			"  IMGBUILD_LOG_PATH=FILE  append the debug log to FILE instead\n" +
			"  PACKER_LOG, PACKER_LOG_PATH  Packer's names for the same (the path only with PACKER_LOG)\n" +
			"  PACKER_PLUGIN_PATH      where installed Packer plugins are looked for",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	for _, f := range commandFactories {
		root.AddCommand(f(s))
	}
	return root
}

// Main runs imgbuild with args and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	s := &Streams{In: in, Out: out, Err: errOut}
	root := NewRoot(s)
	root.SetArgs(normalizeArgs(args))
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(errOut, "Error: %s\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(errOut, "Error: %s\n", err)
	return 1
}

// normalizeArgs lets Packer's single-dash long flags (-var, -only=x,
// -syntax-only) through to pflag, which wants two dashes for long flags.
// Arguments after "--" are left alone, and so are one-letter flags (-h).
func normalizeArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && !strings.HasPrefix(a, "-=") {
			name := strings.SplitN(a[1:], "=", 2)[0]
			if len(name) > 1 {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
