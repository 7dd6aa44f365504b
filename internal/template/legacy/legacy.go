// Package legacy reads Packer's legacy JSON templates (a top-level
// "builders" array, {{user `x`}} interpolation) by translating them into
// HCL2's JSON syntax, so that they go through the same template engine,
// decoders and plugins as HCL2 templates and cannot behave differently.
// Positions are kept: an error found in the translation is reported at
// the line and column of the legacy template it came from.
package legacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Is reports whether src is a legacy JSON template: a JSON object with a
// "builders" key (HCL2's JSON syntax has none).
func Is(src []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(src, &top) != nil {
		return false
	}
	_, ok := top["builders"]
	return ok
}

// Translation is a legacy template in HCL2's JSON syntax.
type Translation struct {
	// HCL is the document, for the template engine's JSON parser.
	HCL []byte
	// origins[i] is where line i+1 of HCL comes from in the legacy file.
	origins []hcl.Pos
	file    string
	opts    Options
}

// Options are what the translation needs from the run.
type Options struct {
	// Now is when the run started: {{timestamp}} is its Unix time, the
	// same everywhere in the template, as in Packer.
	Now time.Time
	// Env, TemplateDir and WorkDir are what variable defaults read
	// ({{env}}, {{template_dir}}, {{pwd}}).
	Env                  []string
	TemplateDir, WorkDir string
	// Upgrade writes the template for a person to keep (hcl2_upgrade):
	// env() stays a call in variable defaults, and the timestamp is
	// computed when the template runs, instead of values of this run.
	Upgrade bool
}

// Translate reads the legacy template src (named file in errors).
func Translate(file string, src []byte, opts Options) (*Translation, hcl.Diagnostics) {
	doc, diags := translateDocument(file, src, opts)
	if diags.HasErrors() {
		return nil, diags
	}
	var e emitter
	e.value(0, "", doc, "")
	return &Translation{HCL: e.b.Bytes(), origins: e.origins, file: file, opts: opts}, diags
}

// translateDocument parses src and translates it into the HCL2 document
// that Translate and Upgrade write out, each in its own syntax.
func translateDocument(file string, src []byte, opts Options) (*out, hcl.Diagnostics) {
	root, diags := parseTree(file, src)
	if diags.HasErrors() {
		return nil, diags
	}
	if root.kind != kindObject {
		return nil, hcl.Diagnostics{errAt(file, root.pos, "Invalid template", "A legacy template is a JSON object with a \"builders\" array.")}
	}
	t := &translator{file: file, opts: opts}
	doc := t.document(root)
	if t.diags.HasErrors() {
		return nil, t.diags
	}
	return doc, t.diags
}

// Remap moves diagnostics about the translation (named generated) to the
// legacy template's lines.
func (tr *Translation) Remap(generated string, diags hcl.Diagnostics) {
	if tr == nil {
		return
	}
	for _, d := range diags {
		for _, r := range []*hcl.Range{d.Subject, d.Context} {
			if r == nil || r.Filename != generated {
				continue
			}
			line := r.Start.Line
			if line < 1 || line > len(tr.origins) {
				line = 1
			}
			p := tr.origins[line-1]
			*r = hcl.Range{Filename: tr.file, Start: p, End: hcl.Pos{Line: p.Line, Column: p.Column + 1, Byte: p.Byte + 1}}
		}
	}
}

func errAt(file string, p hcl.Pos, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: summary, Detail: detail,
		Subject: &hcl.Range{Filename: file, Start: p, End: hcl.Pos{Line: p.Line, Column: p.Column + 1, Byte: p.Byte + 1}},
	}
}

type translator struct {
	file  string
	opts  Options
	diags hcl.Diagnostics
	tmplContext
	// values are the variables' values while RenderVariables runs.
	values map[string]string
	// builders maps a builder's name to its HCL2 address, TYPE.NAME.
	builders map[string]string
	// upgradedLocals are the variables an upgrade writes as locals.
	upgradedLocals []upgradedLocal
}

func (t *translator) errorf(p hcl.Pos, summary, format string, args ...any) {
	t.diags = append(t.diags, errAt(t.file, p, summary, fmt.Sprintf(format, args...)))
}

var rootKeys = map[string]bool{
	"builders": true, "variables": true, "sensitive-variables": true, "provisioners": true,
	"post-processors": true, "min_packer_version": true, "description": true,
	"error-cleanup-provisioner": true,
	"push":                      true, // Atlas push settings: ignored, as Packer 1.9 ignores them
}

func (t *translator) document(root *node) *out {
	doc := obj(root.pos)
	for _, k := range root.keys {
		if !rootKeys[k] && !strings.HasPrefix(k, "_") {
			t.errorf(root.keyPos[k], "Unknown key in the template", "%q is not a key of a Packer template (comments are keys that start with _).", k)
		}
	}
	if v := root.field("min_packer_version"); v != nil {
		if v.kind != kindString {
			t.errorf(v.pos, "Invalid min_packer_version", "min_packer_version must be a string such as \"1.7.0\".")
		} else {
			doc.set("packer", obj(v.pos).set("required_version", str(v.pos, ">= "+v.str)))
		}
	}
	if vars := t.variables(root.field("variables"), root.field("sensitive-variables")); vars != nil {
		doc.set("variable", vars)
	}
	stamp := str(root.pos, strconv.FormatInt(t.opts.Now.Unix(), 10))
	if t.opts.Upgrade {
		// As hcl2_upgrade writes it: HCL2 has no Unix time function.
		stamp = str(root.pos, `${regex_replace(timestamp(), "[- TZ:]", "")}`)
	}
	locals := obj(root.pos).set("timestamp", stamp)
	for _, l := range t.upgradedLocals {
		if l.sensitive {
			continue // written as a local block, which can be marked sensitive
		}
		locals.set(l.name, l.value)
	}
	doc.set("locals", locals)
	for _, l := range t.upgradedLocals {
		if l.sensitive {
			block := obj(l.value.origin).set("expression", l.value).set("sensitive", &out{origin: l.value.origin, lit: "true"})
			if doc.get("local") == nil {
				doc.set("local", obj(root.pos))
			}
			doc.get("local").set(l.name, block)
		}
	}
	sources, refs := t.builderBlocks(root.field("builders"), root.pos)
	if sources != nil {
		doc.set("source", sources)
	}
	build := obj(root.pos)
	if d := root.field("description"); d != nil && d.kind == kindString {
		build.set("description", str(d.pos, escapeHCL(d.str)))
	}
	build.set("sources", refs)
	if p := root.field("provisioners"); p != nil {
		if p.kind != kindArray {
			t.errorf(p.pos, "Invalid provisioners", "provisioners must be an array of objects with a type.")
		} else {
			list := arr(p.pos)
			for _, el := range p.elems {
				if b := t.provisioner(el); b != nil {
					list.add(b)
				}
			}
			build.set("provisioner", list)
		}
	}
	if p := root.field("error-cleanup-provisioner"); p != nil {
		if b := t.provisioner(p); b != nil {
			build.set("error-cleanup-provisioner", b)
		}
	}
	if pp := root.field("post-processors"); pp != nil {
		if chains := t.postProcessors(pp); chains != nil {
			build.set("post-processors", chains)
		}
	}
	doc.set("build", build)
	return doc
}

func (t *translator) variables(vars, sensitive *node) *out {
	secret := map[string]bool{}
	if sensitive != nil {
		if sensitive.kind != kindArray {
			t.errorf(sensitive.pos, "Invalid sensitive-variables", "sensitive-variables must be an array of variable names.")
		}
		for _, el := range sensitive.elems {
			if el.kind != kindString {
				t.errorf(el.pos, "Invalid sensitive-variables", "sensitive-variables must be an array of variable names.")
				continue
			}
			secret[el.str] = true
		}
	}
	if vars == nil {
		return nil
	}
	if vars.kind != kindObject {
		t.errorf(vars.pos, "Invalid variables", "variables must be an object of names and default values.")
		return nil
	}
	if len(vars.keys) == 0 {
		return nil
	}
	// Packer takes any name; HCL2 names are identifiers: others get one.
	t.vars = map[string]string{}
	for _, name := range vars.keys {
		t.vars[name] = hclName(name)
	}
	if t.opts.Upgrade {
		t.markLocals(vars)
	}
	decl := obj(vars.pos)
	for _, name := range vars.keys {
		v := vars.fields[name]
		at := vars.keyPos[name]
		block := obj(at)
		if t.locals[name] {
			s, err := t.translate(v.str, inVariable)
			if err != nil {
				t.errorf(v.pos, "Invalid variable default", "%v.", err)
				continue
			}
			computed, ok := soleInterpolation(s)
			if !ok {
				computed = quoteTemplate(s)
			}
			// The variable stays, so -var still sets it; left empty, the
			// local computes the legacy default.
			varRef := "var." + hclName(name)
			value := str(v.pos, "${"+varRef+` != "" ? `+varRef+" : "+computed+"}")
			t.upgradedLocals = append(t.upgradedLocals, upgradedLocal{name: t.vars[name], value: value, sensitive: secret[name]})
			block.set("default", str(v.pos, ""))
			if secret[name] {
				block.set("sensitive", &out{origin: at, lit: "true"})
			}
			decl.set(hclName(name), block)
			continue
		}
		switch v.kind {
		case kindNull:
			// Required: no default.
		case kindString:
			if t.opts.Upgrade {
				// A default may call env() and nothing else in HCL2.
				if s, err := t.translate(v.str, inVariable); err == nil && !strings.Contains(onlyEnvCalls.ReplaceAllString(s, ""), "${") {
					block.set("default", str(v.pos, s))
					break
				}
			}
			s, err := t.variableDefault(v.str)
			if errors.Is(err, errUserInDefault) {
				// Rendered when every variable is known (RenderVariables).
				s, err = v.str, nil
			}
			if err != nil {
				t.errorf(v.pos, "Invalid variable default", "%v.", err)
				continue
			}
			block.set("default", str(v.pos, escapeHCL(s)))
		case kindNumber, kindBool:
			// Packer reads every variable as a string.
			block.set("default", str(v.pos, literalText(v)))
		default:
			t.errorf(v.pos, "Invalid variable default", "The default of %q must be a string, or null to make the variable required.", name)
			continue
		}
		if secret[name] {
			block.set("sensitive", &out{origin: at, lit: "true"})
		}
		decl.set(t.vars[name], block)
	}
	for name := range secret {
		if vars.field(name) == nil {
			t.errorf(sensitive.pos, "Unknown sensitive variable", "sensitive-variables names %q, which is not a declared variable.", name)
		}
	}
	return decl
}

var onlyEnvCalls = regexp.MustCompile(`\$\{env\("[^"]*"\)\}`)

// runDependent matches translated expressions whose value depends on the
// run: the time, a UUID, the paths, other variables, Packer's version or a
// secret store.
var runDependent = regexp.MustCompile(`\b(local\.|var\.|path\.|packer\.version|uuidv4\(|legacy_isotime\(|timestamp\(|aws_secretsmanager|consul_key\(|vault\()`)

// upgradedLocal is a variable an upgrade writes as a local.
type upgradedLocal struct {
	name      string
	value     *out
	sensitive bool
}

// markLocals decides which variables an upgrade reads through a local:
// those whose default computes its value when the template runs
// ({{timestamp}}, {{uuid}}, {{template_dir}}, {{user `other`}}...),
// which an HCL2 variable's default cannot do; env() alone it can. Baking
// this run's value into a default instead would freeze a timestamp or a
// path forever. The variable stays, with an empty default, so -var and
// var files still set it (Packer's upgrader drops it); the local is its
// value, or the computed default when it is empty.
func (t *translator) markLocals(vars *node) {
	t.locals = map[string]bool{}
	for _, name := range vars.keys {
		v := vars.fields[name]
		if v.kind != kindString || !strings.Contains(v.str, "{{") {
			continue
		}
		s, err := t.translate(v.str, inVariable)
		if err != nil || !runDependent.MatchString(onlyEnvCalls.ReplaceAllString(s, "")) {
			continue // a literal, env() or lower/split/... of literals: a plain default
		}
		t.locals[name] = true
		if t.vars[name] == "timestamp" {
			t.vars[name] = "timestamp_value" // local.timestamp is {{timestamp}}
		}
	}
}

func literalText(v *node) string {
	if v.kind == kindBool {
		return strconv.FormatBool(v.bool)
	}
	return v.num.String()
}

// builderBlocks makes a source per builder and the build's sources list.
func (t *translator) builderBlocks(b *node, at hcl.Pos) (*out, *out) {
	refs := arr(at)
	if b == nil || b.kind != kindArray || len(b.elems) == 0 {
		p := at
		if b != nil {
			p = b.pos
		}
		t.errorf(p, "No builders", "A template needs a \"builders\" array with at least one builder.")
		return nil, refs
	}
	t.builders = map[string]string{}
	sources := obj(b.pos)
	for _, el := range b.elems {
		if el.kind != kindObject {
			t.errorf(el.pos, "Invalid builder", "Each builder is an object with a \"type\".")
			continue
		}
		typ := el.field("type")
		if typ == nil || typ.kind != kindString || typ.str == "" {
			t.errorf(el.pos, "Builder without a type", "Each builder needs a \"type\", such as \"docker\".")
			continue
		}
		name := typ.str
		if n := el.field("name"); n != nil {
			if n.kind != kindString || n.str == "" {
				t.errorf(n.pos, "Invalid builder name", "name must be a non-empty string.")
				continue
			}
			name = n.str
		}
		if _, dup := t.builders[name]; dup {
			t.errorf(el.pos, "Duplicate builder name", "Two builders are named %q: give each a distinct \"name\".", name)
			continue
		}
		t.builders[name] = typ.str + "." + name
		body := t.body(el, map[string]bool{"type": true, "name": true})
		byType := sources.get(typ.str)
		if byType == nil {
			byType = obj(typ.pos)
			sources.set(typ.str, byType)
		}
		byType.set(name, body)
		refs.add(str(el.pos, "source."+typ.str+"."+name))
	}
	return sources, refs
}

// body translates a component's options (every string is a template).
func (t *translator) body(n *node, skip map[string]bool) *out {
	o := obj(n.pos)
	for _, k := range n.keys {
		if skip[k] || strings.HasPrefix(k, "_") {
			continue
		}
		o.set(k, t.value(n.fields[k], n.keyPos[k]))
	}
	return o
}

func (t *translator) value(n *node, at hcl.Pos) *out {
	switch n.kind {
	case kindString:
		s, err := t.translate(n.str, inComponent)
		if err != nil && t.opts.Upgrade && errors.Is(err, errNoHCL2Equivalent) {
			// Kept as text for the person who reads the upgrade.
			o := str(at, escapeHCL(n.str))
			o.todo = fmt.Sprintf("TODO: %v", err)
			return o
		}
		if err != nil {
			t.errorf(n.pos, "Invalid template", "%v.", err)
		}
		return str(at, s)
	case kindArray:
		a := arr(at)
		for _, el := range n.elems {
			a.add(t.value(el, el.pos))
		}
		return a
	case kindObject:
		return t.body(n, nil)
	case kindNull:
		return &out{origin: at, lit: "null"}
	}
	return &out{origin: at, lit: literalText(n)}
}

var provisionerMeta = map[string]bool{"type": true, "only": true, "except": true, "override": true, "pause_before": true, "max_retries": true, "timeout": true}

func (t *translator) provisioner(n *node) *out {
	if n.kind != kindObject {
		t.errorf(n.pos, "Invalid provisioner", "Each provisioner is an object with a \"type\".")
		return nil
	}
	typ := n.field("type")
	if typ == nil || typ.kind != kindString || typ.str == "" {
		t.errorf(n.pos, "Provisioner without a type", "Each provisioner needs a \"type\", such as \"shell\".")
		return nil
	}
	body := t.body(n, provisionerMeta)
	t.onlyExcept(n, body)
	for _, k := range []string{"pause_before", "timeout"} {
		if v := n.field(k); v != nil {
			body.set(k, t.value(v, n.keyPos[k]))
		}
	}
	if v := n.field("max_retries"); v != nil {
		if v.kind == kindString { // Packer accepts "3" too
			if _, err := strconv.Atoi(v.str); err != nil {
				t.errorf(v.pos, "Invalid max_retries", "max_retries must be a number, not %q.", v.str)
			} else {
				body.set("max_retries", &out{origin: n.keyPos["max_retries"], lit: v.str})
			}
		} else {
			body.set("max_retries", t.value(v, n.keyPos["max_retries"]))
		}
	}
	if o := n.field("override"); o != nil {
		if o.kind != kindObject {
			t.errorf(o.pos, "Invalid override", "override must be an object of builder names and options.")
		} else {
			ov := obj(n.keyPos["override"])
			for _, name := range o.keys {
				if _, ok := t.builders[name]; !ok {
					t.errorf(o.keyPos[name], "Unknown builder in override", "override names %q, which is no builder's name.", name)
					continue
				}
				ov.set(name, t.value(o.fields[name], o.keyPos[name]))
			}
			body.set("override", ov)
		}
	}
	return obj(n.pos).set(typ.str, body)
}

// onlyExcept translates only/except from builder names to HCL2's
// TYPE.NAME addresses.
func (t *translator) onlyExcept(n *node, body *out) {
	for _, k := range []string{"only", "except"} {
		v := n.field(k)
		if v == nil {
			continue
		}
		if v.kind != kindArray {
			t.errorf(v.pos, "Invalid "+k, "%s must be an array of builder names.", k)
			continue
		}
		list := arr(n.keyPos[k])
		for _, el := range v.elems {
			addr, ok := t.builders[el.str]
			if el.kind != kindString || !ok {
				t.errorf(el.pos, "Unknown builder in "+k, "%s names %s, which is no builder's name.", k, strconv.Quote(el.str))
				continue
			}
			list.add(str(el.pos, addr))
		}
		body.set(k, list)
	}
}

var postProcessorMeta = map[string]bool{"type": true, "name": true, "only": true, "except": true, "keep_input_artifact": true}

// postProcessors translates the post-processors array: each element is a
// chain (a type name, an object, or an array of them).
func (t *translator) postProcessors(pp *node) *out {
	if pp.kind != kindArray {
		t.errorf(pp.pos, "Invalid post-processors", "post-processors must be an array.")
		return nil
	}
	chains := arr(pp.pos)
	for _, el := range pp.elems {
		items := []*node{el}
		if el.kind == kindArray {
			items = el.elems
		}
		chain := arr(el.pos)
		for _, it := range items {
			if b := t.postProcessor(it); b != nil {
				chain.add(b)
			}
		}
		if len(chain.elems) > 0 {
			chains.add(obj(el.pos).set("post-processor", chain))
		}
	}
	return chains
}

func (t *translator) postProcessor(n *node) *out {
	switch n.kind {
	case kindString:
		return obj(n.pos).set(n.str, obj(n.pos))
	case kindObject:
	default:
		t.errorf(n.pos, "Invalid post-processor", "A post-processor is a type name or an object with a \"type\".")
		return nil
	}
	typ := n.field("type")
	if typ == nil || typ.kind != kindString || typ.str == "" {
		t.errorf(n.pos, "Post-processor without a type", "Each post-processor needs a \"type\", such as \"manifest\".")
		return nil
	}
	body := t.body(n, postProcessorMeta)
	t.onlyExcept(n, body)
	if v := n.field("keep_input_artifact"); v != nil {
		body.set("keep_input_artifact", t.value(v, n.keyPos["keep_input_artifact"]))
	}
	if v := n.field("name"); v != nil && v.kind == kindString {
		body.set("name", str(n.keyPos["name"], escapeHCL(v.str)))
	}
	return obj(n.pos).set(typ.str, body)
}

// String shows the translation (for hcl2_upgrade-like inspection and
// tests).
func (tr *Translation) String() string { return string(bytes.TrimSpace(tr.HCL)) }

// hclName is a legacy variable's name as an HCL2 identifier: characters
// HCL2 does not allow in names become "_".
func hclName(name string) string {
	if validName(name) {
		return name
	}
	var b strings.Builder
	for i, r := range name {
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
