package template

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/imgbuild/imgbuild/internal/srcfile"
	"github.com/imgbuild/imgbuild/internal/template/legacy"
)

const (
	hclExt         = ".pkr.hcl"
	jsonExt        = ".pkr.json"
	autoVarHCLExt  = ".auto.pkrvars.hcl"
	autoVarJSONExt = ".auto.pkrvars.json"
)

// parseFiles finds and parses the template's files: a single file, or
// every *.pkr.hcl then every *.pkr.json in a directory (each sorted by
// name, as Packer does).
func (t *Template) parseFiles() hcl.Diagnostics {
	if t.inline != nil {
		return t.parseInline()
	}
	path := t.opts.Path
	if path == "" {
		path = "."
	}
	st, err := os.Stat(path)
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Could not read the template",
			Detail:   fmt.Sprintf("%v. Pass a *.pkr.hcl or *.pkr.json file, or a directory that holds some.", err),
		}}
	}
	var files []string
	if st.IsDir() {
		t.baseDir = filepath.Clean(path)
		hclFiles, jsonFiles, err := listByExt(path, hclExt, jsonExt)
		if err != nil {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Could not read the template directory", Detail: err.Error()}}
		}
		files = append(hclFiles, jsonFiles...)
	} else {
		t.baseDir = filepath.Dir(path)
		switch {
		case strings.HasSuffix(path, hclExt), strings.HasSuffix(path, jsonExt):
			files = []string{path}
		case strings.HasSuffix(path, ".json"):
			return t.parseLegacy(path)
		}
	}
	if len(files) == 0 {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Could not find any config file in " + path,
			Detail:   "A config file must be suffixed with `.pkr.hcl` or `.pkr.json`. A folder can be referenced.",
		}}
	}
	var diags hcl.Diagnostics
	for _, name := range files {
		f, d := t.parseFile(name)
		diags = append(diags, d...)
		if f != nil {
			t.fileNames = append(t.fileNames, name)
		}
	}
	return diags
}

func (t *Template) parseFile(name string) (*hcl.File, hcl.Diagnostics) {
	if f := t.parser.Files()[name]; f != nil {
		return f, nil
	}
	src, err := srcfile.Read(name)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read file",
			Detail:   fmt.Sprintf("%v.", err), // names the file
		}}
	}
	if strings.HasSuffix(name, ".json") {
		return t.parser.ParseJSON(src, name)
	}
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if f != nil {
		t.parser.AddFile(name, f)
	}
	return f, diags
}

// listByExt returns dir's files ending in each extension, sorted, as
// paths joined to dir.
func listByExt(dir string, exts ...string) (first, second []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var out [2][]string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		for i, ext := range exts {
			if i < 2 && strings.HasSuffix(e.Name(), ext) {
				out[i] = append(out[i], filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(out[0])
	sort.Strings(out[1])
	return out[0], out[1], nil
}

// varFileNames lists the *.auto.pkrvars.* files loaded automatically for a
// directory (none for a single template file, as in Packer).
func (t *Template) autoVarFiles() ([]string, error) {
	if t.inline != nil {
		return nil, nil
	}
	st, err := os.Stat(t.opts.Path)
	if err != nil || !st.IsDir() {
		return nil, nil
	}
	h, j, err := listByExt(t.opts.Path, autoVarHCLExt, autoVarJSONExt)
	return append(h, j...), err
}

// parseInline parses in-memory files, in name order.
func (t *Template) parseInline() hcl.Diagnostics {
	t.baseDir = "."
	names := make([]string, 0, len(t.inline))
	for n := range t.inline {
		names = append(names, n)
	}
	sort.Strings(names)
	var diags hcl.Diagnostics
	for _, name := range names {
		var (
			f *hcl.File
			d hcl.Diagnostics
		)
		if strings.HasSuffix(name, ".json") {
			f, d = t.parser.ParseJSON(t.inline[name], name)
		} else {
			f, d = hclsyntax.ParseConfig(t.inline[name], name, hcl.InitialPos)
			if f != nil {
				t.parser.AddFile(name, f)
			}
		}
		diags = append(diags, d...)
		if f != nil {
			t.fileNames = append(t.fileNames, name)
		}
	}
	return diags
}

// parseLegacy reads a legacy JSON template: it is translated into HCL2's
// JSON syntax (internal/template/legacy) and goes through the same engine;
// diagnostics are moved back to the legacy file's lines (remapLegacy).
func (t *Template) parseLegacy(path string) hcl.Diagnostics {
	src, err := srcfile.Read(path)
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Failed to read file", Detail: fmt.Sprintf("%v.", err)}}
	}
	if !legacy.Is(src) {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Not a Packer template",
			Detail: fmt.Sprintf("%s is neither a legacy Packer JSON template (a JSON object with a \"builders\" "+
				"array) nor an HCL2 template; name an HCL2 JSON template *.pkr.json.", path),
		}}
	}
	// Parsed as it is only so that diagnostics can quote its lines.
	_, _ = t.parser.ParseJSON(src, path)
	dir, _ := filepath.Abs(t.baseDir)
	tr, diags := legacy.Translate(path, src, legacy.Options{Now: time.Now(), Env: t.opts.Env, TemplateDir: dir, WorkDir: t.cwd})
	if diags.HasErrors() {
		return diags
	}
	name := path + " (as HCL2)"
	_, d := t.parser.ParseJSON(tr.HCL, name)
	t.legacy, t.legacyName = tr, name
	t.fileNames = append(t.fileNames, name)
	return append(diags, d...)
}

// remapLegacy moves diagnostics about a legacy template's translation to
// the legacy file's lines.
func (t *Template) remapLegacy(diags hcl.Diagnostics) hcl.Diagnostics {
	if t.legacy != nil {
		t.legacy.Remap(t.legacyName, diags)
	}
	return diags
}
