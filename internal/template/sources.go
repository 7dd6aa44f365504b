package template

import (
	"github.com/hashicorp/hcl/v2"
)

// Source is a top-level source block: source "TYPE" "NAME" { ... }.
type Source struct {
	Type, Name string
	Body       hcl.Body
	DeclRange  hcl.Range
	TypeRange  hcl.Range
}

// Ref is "TYPE.NAME".
func (s *Source) Ref() string { return s.Type + "." + s.Name }

func (t *Template) addSource(b *hcl.Block) hcl.Diagnostics {
	s := &Source{Type: b.Labels[0], Name: b.Labels[1], Body: b.Body, DeclRange: b.DefRange, TypeRange: b.LabelRanges[0]}
	if old, dup := t.sources[s.Ref()]; dup {
		// Packer reports it in a full validate, not in a syntax check.
		t.duplicateSources = append(t.duplicateSources, duplicate("source", s.Ref(), old.DeclRange, s.DeclRange))
		return nil
	}
	t.sources[s.Ref()] = s
	t.srcList = append(t.srcList, s)
	return nil
}

func (t *Template) sourceRefs() []string {
	out := make([]string, 0, len(t.srcList))
	for _, s := range t.srcList {
		out = append(out, s.Ref())
	}
	return out
}
