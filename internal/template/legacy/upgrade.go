package legacy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Schema says which options of a component's block are blocks (nested
// blocks have their own Schema). A nil Schema is unknown: then arrays of
// objects are written as blocks and lone objects as maps, which is what
// Packer's plugins use them for.
type Schema struct {
	Blocks map[string]*Schema
	// Attrs gives the kind of value of each attribute ("list", "bool",
	// "number", "map", "string"): a JSON string where a list or a bool is
	// expected is converted as Packer's weak decoding reads it.
	Attrs map[string]string
}

// SchemaFunc gives the schema of a component type ("builder", "docker");
// nil when unknown.
type SchemaFunc func(kind, typ string) *Schema

// Upgrade translates a legacy template into an HCL2 template for a person
// to keep, as `packer hcl2_upgrade` does: variables, sources, a build with
// its provisioners and post-processors, and a local for {{timestamp}}.
// With annotations, each block has a comment on what it is.
func Upgrade(file string, src []byte, opts Options, schema SchemaFunc, annotate bool) ([]byte, hcl.Diagnostics) {
	opts.Upgrade = true
	doc, diags := translateDocument(file, src, opts)
	if diags.HasErrors() {
		return nil, diags
	}
	w := &hclWriter{schema: schema, annotate: annotate}
	w.document(doc)
	if usesTimestamp(w.b.String()) {
		w = &hclWriter{schema: schema, annotate: annotate, timestampNote: true}
	} else {
		// As Packer's upgrader: no timestamp local where nothing reads it.
		dropTimestampLocal(doc)
		w = &hclWriter{schema: schema, annotate: annotate}
	}
	w.document(doc)
	return hclwrite.Format([]byte(w.b.String())), diags
}

var timestampRef = regexp.MustCompile(`\blocal\.timestamp\b`)

// usesTimestamp says whether the HCL text reads local.timestamp outside
// comments.
func usesTimestamp(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") && timestampRef.MatchString(l) {
			return true
		}
	}
	return false
}

func dropTimestampLocal(doc *out) {
	l := doc.get("locals")
	if l == nil {
		return
	}
	for i, k := range l.keys {
		if k == "timestamp" {
			l.keys = append(l.keys[:i:i], l.keys[i+1:]...)
			l.vals = append(l.vals[:i:i], l.vals[i+1:]...)
			break
		}
	}
	if len(l.keys) == 0 {
		for i, k := range doc.keys {
			if k == "locals" {
				doc.keys = append(doc.keys[:i:i], doc.keys[i+1:]...)
				doc.vals = append(doc.vals[:i:i], doc.vals[i+1:]...)
				break
			}
		}
	}
}

// timestampNote is written, annotated or not, where the template uses
// {{timestamp}}: the upgraded template's value has another format, so
// names and tags built from it change.
const (
	timestampNote = `# TODO: {{timestamp}} gave Unix seconds (1796361144); HCL2 has no function for them,
# so the timestamp local is the UTC time as YYYYMMDDhhmmss (20261204051224), as Packer's
# hcl2_upgrade writes it. Names and tags built from it change format.
`
)

// fileHeader opens an annotated upgrade: what the file is and how to
// carry on with it.
const fileHeader = `# Written by imgbuild hcl2_upgrade from a legacy JSON template. Check it
# before relying on it; the JSON template stays the reference until you do.
# The blocks below may be split across several files of one directory (for
# example the variable blocks in variables.pkr.hcl): every file needs the
# .pkr.hcl suffix, and imgbuild reads the directory as one template
# ('imgbuild inspect DIR' lists what it holds). Go-template calls ({{ ... }})
# are not evaluated in HCL2: use HCL2 expressions such as ${var.name}.

`

type hclWriter struct {
	b        strings.Builder
	schema   SchemaFunc
	annotate bool
	// timestampNote: the template reads local.timestamp, so the upgrade
	// says how its format changed.
	timestampNote bool
}

func (w *hclWriter) line(indent int, text string) {
	w.b.WriteString(strings.Repeat("  ", indent) + text + "\n")
}

func (w *hclWriter) comment(text string) {
	if w.annotate {
		w.line(0, "# "+text)
	}
}

func (w *hclWriter) document(doc *out) {
	if w.annotate {
		// As Packer's -with-annotations: a file header for people new to
		// HCL2; without annotations only the TODO comments are written.
		w.b.WriteString(fileHeader)
	}
	if p := doc.get("packer"); p != nil {
		w.comment("The Packer version the template needs (min_packer_version).")
		w.block(0, "packer", nil, p, &Schema{})
		w.line(0, "")
	}
	if vars := doc.get("variable"); vars != nil {
		w.comment("The template's user variables: set them with -var, -var-file or PKR_VAR_name.")
		for i, name := range vars.keys {
			w.block(0, "variable", []string{name}, vars.vals[i], &Schema{})
		}
		w.line(0, "")
	}
	if l := doc.get("locals"); l != nil {
		w.comment("{{timestamp}} is local.timestamp: one value per run. A variable whose default computes a")
		w.comment("value when the template runs ({{uuid}}, {{template_dir}}, {{user `other`}}...) is read")
		w.comment("through a local of its name: HCL2 defaults cannot do that. Left empty, the local computes it.")
		if w.timestampNote {
			w.b.WriteString(timestampNote)
		}
		w.block(0, "locals", nil, l, &Schema{})
		w.line(0, "")
	}
	if l := doc.get("local"); l != nil {
		for i, name := range l.keys {
			w.block(0, "local", []string{name}, l.vals[i], &Schema{})
		}
		w.line(0, "")
	}
	if srcs := doc.get("source"); srcs != nil {
		for i, typ := range srcs.keys {
			byName := srcs.vals[i]
			for j, name := range byName.keys {
				w.comment(fmt.Sprintf("The builder named %q of the JSON template.", name))
				w.block(0, "source", []string{typ, name}, byName.vals[j], w.schemaOf("builder", typ))
				w.line(0, "")
			}
		}
	}
	build := doc.get("build")
	w.comment("The build: the sources above, then the provisioners and post-processors in order.")
	w.line(0, "build {")
	for i, k := range build.keys {
		v := build.vals[i]
		switch k {
		case "provisioner":
			for _, el := range v.elems {
				typ := el.keys[0]
				w.block(1, "provisioner", []string{typ}, el.vals[0], withoutOverride(w.schemaOf("provisioner", typ)))
			}
		case "error-cleanup-provisioner":
			typ := v.keys[0]
			w.block(1, "error-cleanup-provisioner", []string{typ}, v.vals[0], withoutOverride(w.schemaOf("provisioner", typ)))
		case "post-processors":
			for _, chain := range v.elems {
				w.line(1, "post-processors {")
				for _, pp := range chain.get("post-processor").elems {
					typ := pp.keys[0]
					w.block(2, "post-processor", []string{typ}, pp.vals[0], w.schemaOf("post-processor", typ))
				}
				w.line(1, "}")
			}
		default:
			w.attribute(1, k, v)
		}
	}
	w.line(0, "}")
}

// withoutOverride: a provisioner's override is an attribute (a map of
// source names to options) whatever its schema says.
func withoutOverride(s *Schema) *Schema {
	if s == nil {
		return nil
	}
	out := &Schema{Blocks: map[string]*Schema{}, Attrs: s.Attrs}
	for k, v := range s.Blocks {
		if k != "override" {
			out.Blocks[k] = v
		}
	}
	return out
}

func (w *hclWriter) schemaOf(kind, typ string) *Schema {
	if w.schema == nil {
		return nil
	}
	return w.schema(kind, typ)
}

// block writes TYPE "label"... { body }.
func (w *hclWriter) block(indent int, typ string, labels []string, body *out, s *Schema) {
	head := typ
	for _, l := range labels {
		head += " " + quote(l)
	}
	w.line(indent, head+" {")
	w.body(indent+1, body, s)
	w.line(indent, "}")
}

func (w *hclWriter) body(indent int, body *out, s *Schema) {
	for i, k := range body.keys {
		v := body.vals[i]
		child, isBlock := w.isBlock(s, k, v)
		switch {
		case isBlock && v.array:
			for _, el := range v.elems {
				w.block(indent, k, nil, el, child)
			}
		case isBlock:
			w.block(indent, k, nil, v, child)
		default:
			kind := ""
			if s != nil {
				kind = s.Attrs[k]
			}
			for _, note := range v.todos() {
				w.line(indent, "# "+note)
			}
			w.line(indent, k+" = "+w.typedExpr(indent, v, kind))
		}
	}
}

// typedExpr writes v for an attribute of the given kind, converting a
// JSON string as Packer's weak decoding would read it: "a,b" for a list,
// "true" (or "") for a bool, "10" for a number.
func (w *hclWriter) typedExpr(indent int, v *out, kind string) string {
	var s string
	if v.lit == "" || !strings.HasPrefix(v.lit, `"`) || json.Unmarshal([]byte(v.lit), &s) != nil {
		return w.expr(indent, v)
	}
	literal := !strings.Contains(strings.ReplaceAll(s, "$${", ""), "${")
	switch kind {
	case "list":
		if literal {
			if s == "" {
				return "[]"
			}
			parts := strings.Split(s, ",")
			for i, p := range parts {
				parts[i] = quoteTemplate(p)
			}
			return "[" + strings.Join(parts, ", ") + "]"
		}
		// Weak decoding reads "" as an empty list.
		e := w.expr(indent, v)
		return e + ` == "" ? [] : split(",", ` + e + `)`
	case "bool":
		if literal {
			if b, err := strconv.ParseBool(s); err == nil || s == "" {
				return strconv.FormatBool(b)
			}
		}
		// Weak decoding reads "" as false; tobool("") is an error.
		e := w.expr(indent, v)
		return e + ` == "" ? false : tobool(` + e + `)`
	case "number":
		if literal {
			if _, err := strconv.ParseFloat(s, 64); err == nil {
				return s
			}
		}
		// Weak decoding reads "" as 0; tonumber("") is an error.
		e := w.expr(indent, v)
		return e + ` == "" ? 0 : tonumber(` + e + `)`
	}
	return w.expr(indent, v)
}

// isBlock decides whether option k with value v is written as a block.
func (w *hclWriter) isBlock(s *Schema, k string, v *out) (*Schema, bool) {
	if v.lit != "" {
		return nil, false
	}
	if s != nil {
		child, ok := s.Blocks[k]
		return child, ok
	}
	// Unknown component: arrays of objects are blocks, objects are maps.
	if v.array && len(v.elems) > 0 {
		for _, el := range v.elems {
			if el.lit != "" || el.array {
				return nil, false
			}
		}
		return nil, true
	}
	return nil, false
}

func (w *hclWriter) attribute(indent int, k string, v *out) {
	w.line(indent, k+" = "+w.expr(indent, v))
}

// expr writes a value as an HCL expression.
func (w *hclWriter) expr(indent int, v *out) string {
	switch {
	case v.lit != "":
		var s string
		if json.Unmarshal([]byte(v.lit), &s) == nil && strings.HasPrefix(v.lit, `"`) {
			if inner, ok := soleInterpolation(s); ok {
				return inner // "${var.x}" is written var.x, as a person would
			}
			return quoteTemplate(s)
		}
		return v.lit
	case v.array:
		parts := make([]string, len(v.elems))
		for i, el := range v.elems {
			parts[i] = w.expr(indent+1, el)
		}
		one := "[" + strings.Join(parts, ", ") + "]"
		if len(one) <= 80 && !strings.Contains(one, "\n") {
			return one
		}
		pad := strings.Repeat("  ", indent+1)
		return "[\n" + pad + strings.Join(parts, ",\n"+pad) + ",\n" + strings.Repeat("  ", indent) + "]"
	default:
		if len(v.keys) == 0 {
			return "{}"
		}
		keys := append([]string(nil), v.keys...)
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{\n")
		for _, k := range keys {
			b.WriteString(strings.Repeat("  ", indent+1) + quote(k) + " = " + w.expr(indent+1, v.get(k)) + "\n")
		}
		b.WriteString(strings.Repeat("  ", indent) + "}")
		return b.String()
	}
}

// soleInterpolation reports whether s is exactly one "${...}".
func soleInterpolation(s string) (string, bool) {
	if !strings.HasPrefix(s, "${") || !strings.HasSuffix(s, "}") {
		return "", false
	}
	end, ok := interpolationEnd(s, 0)
	if !ok || end != len(s) {
		return "", false
	}
	return s[2 : len(s)-1], true
}

// interpolationEnd returns the index just after the "${...}" that starts
// at i, skipping quoted strings and nested braces inside it.
func interpolationEnd(s string, i int) (int, bool) {
	depth := 0
	inString := false
	for j := i + 2; j < len(s); j++ {
		c := s[j]
		switch {
		case inString && c == '\\':
			j++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{':
			depth++
		case c == '}':
			if depth == 0 {
				return j + 1, true
			}
			depth--
		}
	}
	return 0, false
}

// quoteTemplate writes an HCL template string: the text outside "${...}"
// is escaped, the expressions inside are kept as they are.
func quoteTemplate(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("$${")
			i += 3
			continue
		}
		if strings.HasPrefix(s[i:], "${") {
			if end, ok := interpolationEnd(s, i); ok {
				b.WriteString(s[i:end])
				i = end
				continue
			}
		}
		switch c := s[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte('"')
	return b.String()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
