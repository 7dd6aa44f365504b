package template

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// topSchema is the set of blocks a template file may hold.
var topSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "packer"},
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "variables"},
	{Type: "locals"},
	{Type: "local", LabelNames: []string{"name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "source", LabelNames: []string{"type", "name"}},
	{Type: "build"},
}}

// decodeStructure reads each file's top-level blocks and the parts of
// them that need no evaluation: sources and data sources by type and name,
// build blocks' layout.
func (t *Template) decodeStructure() hcl.Diagnostics {
	var diags hcl.Diagnostics
	files := t.parser.Files()
	for _, name := range t.fileNames {
		content, d := files[name].Body.Content(topSchema)
		diags = append(diags, d...)
		if content == nil {
			continue
		}
		t.bodies = append(t.bodies, content)
	}
	for _, b := range t.blocksOf("source") {
		diags = append(diags, t.addSource(b)...)
	}
	for _, b := range t.blocksOf("data") {
		diags = append(diags, t.addDataSource(b)...)
	}
	return diags
}

// blocksOf returns every top-level block of a type, in file order.
func (t *Template) blocksOf(typ string) []*hcl.Block {
	var out []*hcl.Block
	for _, content := range t.bodies {
		for _, b := range content.Blocks {
			if b.Type == typ {
				out = append(out, b)
			}
		}
	}
	return out
}

func duplicate(what, name string, first hcl.Range, again hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s", what),
		Detail:   fmt.Sprintf("%s %q was already declared at %s. Names must be unique; rename or remove one.", what, name, first),
		Subject:  again.Ptr(),
	}
}
