package legacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"
)

// kind is the kind of a JSON value.
type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// node is a JSON value with where it starts in its file, so that errors
// about a legacy template name the line and column of the key or value.
type node struct {
	kind   kind
	pos    hcl.Pos
	str    string      // kindString
	num    json.Number // kindNumber
	bool   bool        // kindBool
	elems  []*node     // kindArray
	keys   []string    // kindObject, in file order
	fields map[string]*node
	keyPos map[string]hcl.Pos
}

func (n *node) field(key string) *node {
	if n == nil || n.kind != kindObject {
		return nil
	}
	return n.fields[key]
}

// parseTree decodes src, keeping positions. Duplicate keys are errors, as
// they are in Packer's decoding of templates.
func parseTree(filename string, src []byte) (*node, hcl.Diagnostics) {
	p := &treeParser{file: filename, src: src, lines: lineStarts(src)}
	p.dec = json.NewDecoder(bytes.NewReader(src))
	p.dec.UseNumber()
	root, err := p.value()
	if err == nil {
		if _, e := p.dec.Token(); e != io.EOF {
			err = p.errorf(p.offset(), "unexpected data after the template's closing brace")
		}
	}
	if err != nil {
		var d *hcl.Diagnostic
		if errors.As(err, &d) {
			return nil, hcl.Diagnostics{d}
		}
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid JSON", Detail: err.Error(), Subject: p.rangeAt(p.offset()).Ptr()}}
	}
	return root, nil
}

type treeParser struct {
	file  string
	src   []byte
	lines []int
	dec   *json.Decoder
}

// offset is where the next token starts: the decoder's offset is the end
// of the last token, before separators and spaces.
func (p *treeParser) offset() int {
	o := int(p.dec.InputOffset())
	for o < len(p.src) {
		switch p.src[o] {
		case ' ', '\t', '\r', '\n', ',', ':':
			o++
			continue
		}
		break
	}
	return o
}

func (p *treeParser) pos(off int) hcl.Pos {
	line := 0
	for i, start := range p.lines {
		if start > off {
			break
		}
		line = i
	}
	return hcl.Pos{Line: line + 1, Column: off - p.lines[line] + 1, Byte: off}
}

func (p *treeParser) rangeAt(off int) hcl.Range {
	start := p.pos(off)
	end := start
	end.Column++
	end.Byte++
	return hcl.Range{Filename: p.file, Start: start, End: end}
}

func (p *treeParser) errorf(off int, format string, args ...any) error {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid JSON template", Detail: fmt.Sprintf(format, args...), Subject: p.rangeAt(off).Ptr()}
}

func (p *treeParser) value() (*node, error) {
	off := p.offset()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.errorf(off, "%v", err)
	}
	n := &node{pos: p.pos(off)}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			n.kind, n.fields, n.keyPos = kindObject, map[string]*node{}, map[string]hcl.Pos{}
			for p.dec.More() {
				koff := p.offset()
				kt, err := p.dec.Token()
				if err != nil {
					return nil, p.errorf(koff, "%v", err)
				}
				key := kt.(string)
				if _, dup := n.fields[key]; dup {
					return nil, p.errorf(koff, "the key %q appears twice in this object", key)
				}
				child, err := p.value()
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key)
				n.fields[key], n.keyPos[key] = child, p.pos(koff)
			}
		case '[':
			n.kind = kindArray
			for p.dec.More() {
				child, err := p.value()
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, child)
			}
		}
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, p.errorf(p.offset(), "%v", err)
		}
	case string:
		n.kind, n.str = kindString, v
	case json.Number:
		n.kind, n.num = kindNumber, v
	case bool:
		n.kind, n.bool = kindBool, v
	case nil:
		n.kind = kindNull
	}
	return n, nil
}

func lineStarts(src []byte) []int {
	starts := []int{0}
	for i, b := range src {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}
