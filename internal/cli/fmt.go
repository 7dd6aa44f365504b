package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/imgbuild/imgbuild/internal/srcfile"
	"github.com/imgbuild/imgbuild/internal/textdiff"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"
)

func init() { register(newFmtCmd) }

// Exit codes of fmt, as Packer's: 1 for errors (syntax, I/O), 3 when -check
// finds a file that is not formatted.
const fmtExitUnformatted = 3

// fmtSuffixes are the files fmt rewrites when it walks a directory.
var fmtSuffixes = []string{".pkr.hcl", ".pkrvars.hcl"}

type fmtOptions struct {
	check, diff, write, recursive bool
}

func newFmtCmd(s *Streams) *cobra.Command {
	var o fmtOptions
	cmd := &cobra.Command{
		Use:   "fmt [-check] [-diff] [-write=false] [-recursive] PATH...",
		Short: "Rewrite HCL2 templates and variable files in the canonical format",
		Long: "fmt rewrites *.pkr.hcl and *.pkrvars.hcl files in HCL's canonical format and\n" +
			"style, and prints the name of every file it changed. PATH is a file, a\n" +
			"directory (its *.pkr.hcl and *.pkrvars.hcl files; -recursive descends into\n" +
			"subdirectories) or - to format standard input to standard output. JSON\n" +
			"templates are left alone.\n\n" +
			"Exit status: 0 when every file is formatted (or was rewritten), 1 on an\n" +
			"error such as a syntax error, 3 with -check when a file needs formatting.",
		Example: "  imgbuild fmt .\n" +
			"  imgbuild fmt -check -recursive templates/\n" +
			"  imgbuild fmt -diff -write=false build.pkr.hcl\n" +
			"  cat build.pkr.hcl | imgbuild fmt -",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFmt(s, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.check, "check", false, "check that the input is formatted; list the files that are not and exit with status 3 (writes nothing)")
	f.BoolVar(&o.diff, "diff", false, "print a unified diff of every formatting change")
	f.BoolVar(&o.write, "write", true, "write the formatted result back to the files (-write=false prints it instead; off with -check)")
	f.BoolVar(&o.recursive, "recursive", false, "also format files in subdirectories")
	return cmd
}

func runFmt(s *Streams, o fmtOptions, paths []string) error {
	r := &fmtRun{s: s, o: o}
	for _, p := range paths {
		if p == "-" {
			r.stdin()
			continue
		}
		r.path(p)
	}
	switch {
	case r.failed:
		return exitCode(1)
	case o.check && r.unformatted:
		return exitCode(fmtExitUnformatted)
	}
	return nil
}

// fmtRun formats one invocation's inputs, reporting problems as it goes so
// that one bad file does not hide the others.
type fmtRun struct {
	s           *Streams
	o           fmtOptions
	failed      bool // an error was reported: exit 1
	unformatted bool // some input was not in canonical form
}

func (r *fmtRun) fail(format string, args ...any) {
	fmt.Fprintf(r.s.Err, "Error: "+format+"\n", args...)
	r.failed = true
}

func (r *fmtRun) path(p string) {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			r.fail("%s does not exist; give a template file, a directory or - for standard input", p)
			return
		}
		r.fail("reading %s: %s", p, err)
		return
	}
	if fi.IsDir() {
		r.dir(p)
		return
	}
	// A file named explicitly is formatted whatever its name, except JSON,
	// which Packer's fmt leaves alone.
	if strings.HasSuffix(p, ".json") {
		return
	}
	r.file(p, fi.Mode().Perm())
}

func (r *fmtRun) dir(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.fail("reading directory %s: %s", dir, err)
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if r.o.recursive {
				r.dir(p)
			}
			continue
		}
		if !fmtHasSuffix(e.Name()) {
			continue
		}
		// Stat, not the entry's own type: a symlinked template is one
		// validate loads, so fmt -check must look at it too. Anything but
		// a regular file behind the name is refused by r.file, as validate
		// refuses it.
		info, err := os.Stat(p)
		if err != nil {
			r.fail("reading %s: %s", p, err)
			continue
		}
		if info.IsDir() { // a symlink to a directory: not followed
			continue
		}
		r.file(p, info.Mode().Perm())
	}
}

func fmtHasSuffix(name string) bool {
	for _, s := range fmtSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

func (r *fmtRun) file(p string, perm os.FileMode) {
	src, err := srcfile.Read(p)
	if err != nil {
		r.fail("%s", err) // names the file
		return
	}
	out, ok := r.format(p, src)
	if !ok {
		return
	}
	changed := !bytes.Equal(src, out)
	if changed {
		r.unformatted = true
	}
	switch {
	case r.o.check:
		if changed {
			fmt.Fprintln(r.s.Out, p)
		}
	case !r.o.write:
		// -write=false: the formatted text goes to stdout instead of the
		// file (after the diff, when one was asked for).
		if !r.o.diff {
			r.s.Out.Write(out)
		}
	case changed:
		if err := os.WriteFile(p, out, perm); err != nil {
			r.fail("writing %s: %s", p, err)
			return
		}
		fmt.Fprintln(r.s.Out, p)
	}
	if r.o.diff && changed {
		textdiff.Unified(r.s.Out, p, src, out)
	}
}

func (r *fmtRun) stdin() {
	src, err := srcfile.ReadFrom("standard input", r.s.In)
	if err != nil {
		r.fail("reading standard input: %s", err)
		return
	}
	out, ok := r.format("<stdin>", src)
	if !ok {
		return
	}
	changed := !bytes.Equal(src, out)
	if changed {
		r.unformatted = true
	}
	switch {
	case r.o.diff:
		if changed {
			textdiff.Unified(r.s.Out, "<stdin>", src, out)
		}
	case !r.o.check:
		r.s.Out.Write(out)
	}
}

// format returns src in canonical form, or reports its syntax errors.
// hclwrite formats whatever it is given, so the source is parsed first:
// formatting a file that does not parse would only hide the mistake.
func (r *fmtRun) format(name string, src []byte) ([]byte, bool) {
	file, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		writeDiagnostics(r.s.Err, map[string]*hcl.File{name: file}, diags)
		r.failed = true
		return nil, false
	}
	return hclwrite.Format(src), true
}
