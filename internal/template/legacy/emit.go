package legacy

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// out is a value of the HCL JSON document being written, with the
// position in the legacy template it comes from.
type out struct {
	origin hcl.Pos
	lit    string // a JSON literal; "" for objects and arrays
	keys   []string
	vals   []*out
	elems  []*out
	array  bool
	// todo is what an upgrade could not translate here, for a comment.
	todo string
}

func obj(origin hcl.Pos) *out { return &out{origin: origin} }
func arr(origin hcl.Pos) *out { return &out{origin: origin, array: true} }

func str(origin hcl.Pos, s string) *out {
	return &out{origin: origin, lit: jsonString(s)}
}

// jsonString quotes s for JSON, leaving <, > and & as they are (boot
// commands are full of them).
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func (o *out) set(key string, v *out) *out {
	for i, k := range o.keys {
		if k == key {
			o.vals[i] = v
			return o
		}
	}
	o.keys = append(o.keys, key)
	o.vals = append(o.vals, v)
	return o
}

func (o *out) get(key string) *out {
	for i, k := range o.keys {
		if k == key {
			return o.vals[i]
		}
	}
	return nil
}

func (o *out) add(v *out) *out { o.elems = append(o.elems, v); return o }

// todos are the TODO notes of v and of the values inside it.
func (o *out) todos() []string {
	var notes []string
	if o.todo != "" {
		notes = append(notes, o.todo)
	}
	for _, v := range o.vals {
		notes = append(notes, v.todos()...)
	}
	for _, v := range o.elems {
		notes = append(notes, v.todos()...)
	}
	return notes
}

// emitter writes the document one key or element per line and remembers,
// for every line, where in the legacy template it comes from.
type emitter struct {
	b       bytes.Buffer
	origins []hcl.Pos
}

func (e *emitter) line(indent int, text string, origin hcl.Pos) {
	e.b.WriteString(strings.Repeat("  ", indent))
	e.b.WriteString(text)
	e.b.WriteByte('\n')
	e.origins = append(e.origins, origin)
}

func (e *emitter) value(indent int, prefix string, v *out, suffix string) {
	switch {
	case v.lit != "":
		e.line(indent, prefix+v.lit+suffix, v.origin)
	case v.array:
		if len(v.elems) == 0 {
			e.line(indent, prefix+"[]"+suffix, v.origin)
			return
		}
		e.line(indent, prefix+"[", v.origin)
		for i, el := range v.elems {
			sep := ","
			if i == len(v.elems)-1 {
				sep = ""
			}
			e.value(indent+1, "", el, sep)
		}
		e.line(indent, "]"+suffix, v.origin)
	default:
		if len(v.keys) == 0 {
			e.line(indent, prefix+"{}"+suffix, v.origin)
			return
		}
		e.line(indent, prefix+"{", v.origin)
		for i, k := range v.keys {
			sep := ","
			if i == len(v.keys)-1 {
				sep = ""
			}
			e.value(indent+1, jsonString(k)+": ", v.vals[i], sep)
		}
		e.line(indent, "}"+suffix, v.origin)
	}
}
