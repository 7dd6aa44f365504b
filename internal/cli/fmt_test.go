package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fmtFixture copies testdata/fmt/unformatted.pkr.hcl into a fresh
// directory under the given names and returns the directory and the
// canonical form of that file.
func fmtFixture(t *testing.T, names ...string) (dir string, formatted []byte) {
	t.Helper()
	src, err := os.ReadFile("testdata/fmt/unformatted.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	formatted, err = os.ReadFile("testdata/fmt/formatted.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	for _, n := range names {
		fmtWriteFile(t, filepath.Join(dir, n), src)
	}
	return dir, formatted
}

func fmtWriteFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fmtReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runFmtCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestFmtRewritesFilesAndNamesThem(t *testing.T) {
	dir, formatted := fmtFixture(t, "a.pkr.hcl")
	p := filepath.Join(dir, "a.pkr.hcl")
	code, out, errOut := runFmtCmd(t, "", "fmt", p)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if out != p+"\n" {
		t.Errorf("stdout = %q, want the file name", out)
	}
	if got := fmtReadFile(t, p); !bytes.Equal(got, formatted) {
		t.Errorf("file not rewritten canonically:\n%s", got)
	}
	// A second run finds nothing to change and prints nothing.
	code, out, _ = runFmtCmd(t, "", "fmt", p)
	if code != 0 || out != "" {
		t.Errorf("second run: exit %d, stdout %q; want 0 and nothing", code, out)
	}
}

func TestFmtCheckExitsThreeAndWritesNothing(t *testing.T) {
	dir, formatted := fmtFixture(t, "a.pkr.hcl")
	p := filepath.Join(dir, "a.pkr.hcl")
	fmtWriteFile(t, filepath.Join(dir, "ok.pkr.hcl"), formatted)
	before := fmtReadFile(t, p)

	code, out, _ := runFmtCmd(t, "", "fmt", "-check", dir)
	if code != 3 {
		t.Errorf("exit %d, want 3 for an unformatted file", code)
	}
	if out != p+"\n" {
		t.Errorf("stdout = %q, want only the unformatted file's name", out)
	}
	if !bytes.Equal(fmtReadFile(t, p), before) {
		t.Error("-check rewrote the file")
	}

	code, out, _ = runFmtCmd(t, "", "fmt", "-check", filepath.Join(dir, "ok.pkr.hcl"))
	if code != 0 || out != "" {
		t.Errorf("formatted file: exit %d, stdout %q; want 0 and nothing", code, out)
	}
}

func TestFmtWriteFalsePrintsTheResultInstead(t *testing.T) {
	dir, formatted := fmtFixture(t, "a.pkr.hcl")
	p := filepath.Join(dir, "a.pkr.hcl")
	before := fmtReadFile(t, p)
	code, out, errOut := runFmtCmd(t, "", "fmt", "-write=false", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != string(formatted) {
		t.Errorf("stdout =\n%s\nwant the formatted text", out)
	}
	if !bytes.Equal(fmtReadFile(t, p), before) {
		t.Error("-write=false rewrote the file")
	}
}

func TestFmtDiffPrintsAUnifiedDiff(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d.pkr.hcl")
	fmtWriteFile(t, p, []byte("locals {\n  a = 1\n  bb = 2\n}\n"))
	code, out, errOut := runFmtCmd(t, "", "fmt", "-diff", "-write=false", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "--- old/" + p + "\n+++ new/" + p + "\n" +
		"@@ -1,4 +1,4 @@\n" +
		" locals {\n" +
		"-  a = 1\n" +
		"+  a  = 1\n" +
		"   bb = 2\n" +
		" }\n"
	if out != want {
		t.Errorf("diff =\n%s\nwant\n%s", out, want)
	}
	if got := string(fmtReadFile(t, p)); got != "locals {\n  a = 1\n  bb = 2\n}\n" {
		t.Errorf("-diff -write=false rewrote the file: %q", got)
	}

	// With writing on, the name and the diff are both printed and the file
	// is rewritten.
	code, out, _ = runFmtCmd(t, "", "fmt", "-diff", p)
	if code != 0 || !strings.HasPrefix(out, p+"\n--- old/") {
		t.Errorf("exit %d, stdout %q; want the name then the diff", code, out)
	}
	if got := string(fmtReadFile(t, p)); got != "locals {\n  a  = 1\n  bb = 2\n}\n" {
		t.Errorf("file not rewritten: %q", got)
	}
}

func TestFmtDirectoryTakesOnlyPackerFilesAndRecursiveDescends(t *testing.T) {
	dir, formatted := fmtFixture(t,
		"a.pkr.hcl", "vars.pkrvars.hcl", "other.hcl", "tpl.pkr.json",
		"sub/b.pkr.hcl")
	before := fmtReadFile(t, filepath.Join(dir, "other.hcl"))

	code, out, errOut := runFmtCmd(t, "", "fmt", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := filepath.Join(dir, "a.pkr.hcl") + "\n" + filepath.Join(dir, "vars.pkrvars.hcl") + "\n"
	if out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	for _, untouched := range []string{"other.hcl", "tpl.pkr.json", "sub/b.pkr.hcl"} {
		if !bytes.Equal(fmtReadFile(t, filepath.Join(dir, untouched)), before) {
			t.Errorf("%s was changed without -recursive", untouched)
		}
	}

	code, out, _ = runFmtCmd(t, "", "fmt", "-recursive", dir)
	if code != 0 || out != filepath.Join(dir, "sub", "b.pkr.hcl")+"\n" {
		t.Errorf("-recursive: exit %d, stdout %q; want sub/b.pkr.hcl", code, out)
	}
	if !bytes.Equal(fmtReadFile(t, filepath.Join(dir, "sub", "b.pkr.hcl")), formatted) {
		t.Error("-recursive did not format sub/b.pkr.hcl")
	}
}

func TestFmtStdinWritesStdout(t *testing.T) {
	src := string(fmtReadFile(t, "testdata/fmt/unformatted.pkr.hcl"))
	formatted := string(fmtReadFile(t, "testdata/fmt/formatted.pkr.hcl"))

	code, out, errOut := runFmtCmd(t, src, "fmt", "-")
	if code != 0 || out != formatted {
		t.Errorf("exit %d, stdout\n%s\nstderr %s; want 0 and the formatted text", code, out, errOut)
	}
	code, out, _ = runFmtCmd(t, src, "fmt", "-check", "-")
	if code != 3 || out != "" {
		t.Errorf("-check -: exit %d, stdout %q; want 3 and nothing", code, out)
	}
	code, _, _ = runFmtCmd(t, formatted, "fmt", "-check", "-")
	if code != 0 {
		t.Errorf("-check - of formatted input: exit %d, want 0", code)
	}
	code, out, _ = runFmtCmd(t, src, "fmt", "-diff", "-")
	if code != 0 || !strings.HasPrefix(out, "--- old/<stdin>\n+++ new/<stdin>\n@@ ") {
		t.Errorf("-diff -: exit %d, stdout %q; want a diff", code, out)
	}
}

func TestFmtSyntaxErrorIsLocatedAndExitsOne(t *testing.T) {
	dir, formatted := fmtFixture(t, "b.pkr.hcl")
	bad := filepath.Join(dir, "a.pkr.hcl")
	badSrc := []byte("source \"docker\" \"x\" {\n  image = \"a\"\n  commit = = true\n}\n")
	fmtWriteFile(t, bad, badSrc)

	code, out, errOut := runFmtCmd(t, "", "fmt", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"Error: ", bad + " line 3, column 12", `    3:   commit = = true`, "\n                  ^\n"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
		t.Errorf("stderr has a stack trace:\n%s", errOut)
	}
	if !bytes.Equal(fmtReadFile(t, bad), badSrc) {
		t.Error("the file with the syntax error was changed")
	}
	// The other file is still formatted.
	if out != filepath.Join(dir, "b.pkr.hcl")+"\n" || !bytes.Equal(fmtReadFile(t, filepath.Join(dir, "b.pkr.hcl")), formatted) {
		t.Errorf("the valid file was not formatted: stdout %q", out)
	}
}

func TestFmtErrorsOnBadPaths(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"missing path", []string{"fmt", filepath.Join(dir, "nope.pkr.hcl")}, 1, "does not exist"},
		{"no path", []string{"fmt"}, 1, "requires at least 1 arg"},
		{"syntax error on stdin", []string{"fmt", "-"}, 1, "<stdin> line 1, column 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runFmtCmd(t, "x = \n", tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.wantErr)
			}
		})
	}
}

func TestFmtLeavesJSONTemplatesAlone(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.pkr.json")
	fmtWriteFile(t, p, []byte(`{"builders":[ ]}`))
	code, out, _ := runFmtCmd(t, "", "fmt", "-check", p)
	if code != 0 || out != "" {
		t.Errorf("exit %d, stdout %q; want 0 and nothing", code, out)
	}
}

func TestFmtCheckWithDiffShowsWhatWouldChange(t *testing.T) {
	dir, _ := fmtFixture(t, "a.pkr.hcl")
	p := filepath.Join(dir, "a.pkr.hcl")
	before := fmtReadFile(t, p)
	code, out, _ := runFmtCmd(t, "", "fmt", "-check", "-diff", p)
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	if !strings.HasPrefix(out, p+"\n--- old/"+p+"\n") || !strings.Contains(out, "-    image  = var.image\n+  image  = var.image\n") {
		t.Errorf("stdout lacks the name and the diff:\n%s", out)
	}
	if !bytes.Equal(fmtReadFile(t, p), before) {
		t.Error("-check -diff rewrote the file")
	}
}

// validate loads a symlinked *.pkr.hcl, so fmt -check must check it: a CI
// format check that skipped it passed falsely.
func TestFmtCheckOfADirectoryChecksSymlinkedTemplates(t *testing.T) {
	real, formatted := fmtFixture(t, "shared.pkr.hcl")
	dir := t.TempDir()
	link := filepath.Join(dir, "shared.pkr.hcl")
	if err := os.Symlink(filepath.Join(real, "shared.pkr.hcl"), link); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runFmtCmd(t, "", "fmt", "-check", dir)
	if code != fmtExitUnformatted || out != link+"\n" {
		t.Errorf("fmt -check: exit %d, stdout %q, stderr %q; want exit 3 naming %s", code, out, errOut, link)
	}
	code, out, errOut = runFmtCmd(t, "", "fmt", dir)
	if code != 0 || out != link+"\n" {
		t.Errorf("fmt: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !bytes.Equal(fmtReadFile(t, filepath.Join(real, "shared.pkr.hcl")), formatted) {
		t.Error("fmt did not format the file the link points at")
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file: %v", err)
	}
}
