package template

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/sensitive"
	"github.com/imgbuild/imgbuild/internal/template/hcldecode"
)

// Build is a build block.
type Build struct {
	Name        string
	Description string
	Sources     []*SourceUse
	// Provisioners and post-processors in the order written.
	Provisioners   []*ProvisionerBlock
	ErrorCleanup   *ProvisionerBlock
	PostProcessors [][]*PostProcessorBlock
	DefRange       hcl.Range
}

// SourceUse is one source a build runs: from `sources = [...]` or a
// build-level `source "type.name" { ... }` block, whose attributes
// override the top-level source's and whose `name` renames the build.
type SourceUse struct {
	Source   *Source
	Name     string   // the name the build uses: the override's name, or the source's
	Body     hcl.Body // the build-level block's body without name; nil for sources = [...]
	DefRange hcl.Range
}

// ProvisionerBlock is a provisioner (or error-cleanup-provisioner) block.
type ProvisionerBlock struct {
	Type, Name   string
	PauseBefore  string
	MaxRetries   int
	Timeout      string
	Only, Except []string
	Override     map[string]cty.Value // source key -> object of options
	Body         hcl.Body             // the plugin's own options
	DefRange     hcl.Range
	TypeRange    hcl.Range
}

// PostProcessorBlock is a post-processor block.
type PostProcessorBlock struct {
	Type, Name        string
	KeepInputArtifact *bool
	Only, Except      []string
	Body              hcl.Body
	DefRange          hcl.Range
	TypeRange         hcl.Range
}

// FullName is how a build shows a source: "docker.x" or "b.docker.x".
func (b *Build) FullName(use *SourceUse) string {
	n := use.Source.Type + "." + use.Name
	if b.Name != "" {
		return b.Name + "." + n
	}
	return n
}

var buildSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "name"}, {Name: "description"}, {Name: "sources"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "source", LabelNames: []string{"reference"}},
		{Type: "provisioner", LabelNames: []string{"type"}},
		{Type: "error-cleanup-provisioner", LabelNames: []string{"type"}},
		{Type: "post-processor", LabelNames: []string{"type"}},
		{Type: "post-processors"},
		{Type: "hcp_packer_registry"},
	},
}

var provisionerMetaSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "name"}, {Name: "pause_before"}, {Name: "max_retries"}, {Name: "timeout"},
	{Name: "only"}, {Name: "except"}, {Name: "override"},
}}

var postProcessorMetaSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "name"}, {Name: "keep_input_artifact"}, {Name: "only"}, {Name: "except"},
}}

var postProcessorsSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "post-processor", LabelNames: []string{"type"}},
}}

// decodeBuilds decodes the build blocks in order.
func (t *Template) decodeBuilds() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, block := range t.blocksOf("build") {
		bld, d := t.decodeBuild(block)
		diags = append(diags, d...)
		if bld != nil {
			t.builds = append(t.builds, bld)
		}
	}
	return diags
}

func (t *Template) decodeBuild(block *hcl.Block) (*Build, hcl.Diagnostics) {
	ctx := t.EvalContext()
	body := block.Body
	if hcldecode.MayHaveDynamic(body) {
		// Packer expands dynamic blocks of a build (hcp_packer_registry).
		body = dynblock.Expand(body, ctx)
	}
	content, diags := body.Content(buildSchema)
	if content == nil {
		return nil, diags
	}
	b := &Build{DefRange: block.DefRange}
	diags = append(diags, evalString(ctx, content.Attributes["name"], &b.Name)...)
	diags = append(diags, evalString(ctx, content.Attributes["description"], &b.Description)...)
	if a := content.Attributes["sources"]; a != nil {
		var refs []string
		diags = append(diags, evalStrings(ctx, a, &refs)...)
		for _, ref := range refs {
			src, d := t.lookupSource(ref, true, a.Expr.Range())
			diags = append(diags, d...)
			if src != nil {
				b.Sources = append(b.Sources, &SourceUse{Source: src, Name: src.Name, DefRange: a.Expr.Range()})
			}
		}
	}
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "source":
			use, d := t.decodeSourceUse(ctx, blk)
			diags = append(diags, d...)
			if use != nil {
				b.Sources = append(b.Sources, use)
			}
		case "provisioner":
			p, d := t.decodeProvisioner(ctx, blk)
			diags = append(diags, d...)
			if p != nil {
				b.Provisioners = append(b.Provisioners, p)
			}
		case "error-cleanup-provisioner":
			p, d := t.decodeProvisioner(ctx, blk)
			diags = append(diags, d...)
			if b.ErrorCleanup != nil {
				diags = append(diags, duplicate("error-cleanup-provisioner", p.Type, b.ErrorCleanup.DefRange, blk.DefRange))
			} else if p != nil {
				b.ErrorCleanup = p
			}
		case "post-processor":
			pp, d := t.decodePostProcessor(ctx, blk)
			diags = append(diags, d...)
			if pp != nil {
				b.PostProcessors = append(b.PostProcessors, []*PostProcessorBlock{pp})
			}
		case "post-processors":
			inner, d := blk.Body.Content(postProcessorsSchema)
			diags = append(diags, d...)
			if inner == nil {
				continue
			}
			var chain []*PostProcessorBlock
			for _, pblk := range inner.Blocks {
				pp, d := t.decodePostProcessor(ctx, pblk)
				diags = append(diags, d...)
				if pp != nil {
					chain = append(chain, pp)
				}
			}
			if len(chain) > 0 {
				b.PostProcessors = append(b.PostProcessors, chain)
			}
		case "hcp_packer_registry":
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "hcp_packer_registry is ignored",
				Detail:   "imgbuild does not publish to HCP Packer; the block is accepted and has no effect.",
				Subject:  blk.DefRange.Ptr(),
			})
		}
	}
	if len(b.Sources) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Build without sources",
			Detail:   "A build block must use at least one source, with sources = [\"source.TYPE.NAME\"] or a source \"source.TYPE.NAME\" {} block.",
			Subject:  block.DefRange.Ptr(),
		})
	}
	return b, diags
}

// lookupSource finds the source a reference such as "source.docker.x"
// names. The "source." prefix is required in sources = [...] (as in
// Packer) and optional in a build-level source block's label.
func (t *Template) lookupSource(ref string, needPrefix bool, rng hcl.Range) (*Source, hcl.Diagnostics) {
	parts := strings.Split(ref, ".")
	if len(parts) == 3 && parts[0] == "source" {
		parts = parts[1:]
	} else if needPrefix || len(parts) != 2 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid source reference",
			Detail:   fmt.Sprintf("%q is not a source reference; write it as source.TYPE.NAME, for example \"source.docker.ubuntu\".", ref),
			Subject:  rng.Ptr(),
		}}
	}
	key := parts[0] + "." + parts[1]
	src := t.sources[key]
	if src == nil {
		known := t.sourceRefs()
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown source " + key,
			Detail:   fmt.Sprintf("No source block declares %q.%s Known: %v.", key, suggest(key, known), known),
			Subject:  rng.Ptr(),
		}}
	}
	return src, nil
}

func (t *Template) decodeSourceUse(ctx *hcl.EvalContext, blk *hcl.Block) (*SourceUse, hcl.Diagnostics) {
	src, diags := t.lookupSource(blk.Labels[0], false, blk.LabelRanges[0])
	if src == nil {
		return nil, diags
	}
	content, rest, d := blk.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "name"}}})
	diags = append(diags, d...)
	use := &SourceUse{Source: src, Name: src.Name, Body: rest, DefRange: blk.DefRange}
	if content != nil {
		diags = append(diags, evalString(ctx, content.Attributes["name"], &use.Name)...)
	}
	return use, diags
}

func (t *Template) decodeProvisioner(ctx *hcl.EvalContext, blk *hcl.Block) (*ProvisionerBlock, hcl.Diagnostics) {
	p := &ProvisionerBlock{Type: blk.Labels[0], DefRange: blk.DefRange, TypeRange: blk.LabelRanges[0]}
	var diags hcl.Diagnostics
	if !t.catalog.Has(plugin.KindProvisioner, p.Type) {
		diags = append(diags, t.unknownComponent(plugin.KindProvisioner, p.Type, p.TypeRange))
	}
	content, rest, d := blk.Body.PartialContent(provisionerMetaSchema)
	diags = append(diags, d...)
	p.Body = rest
	if content == nil {
		return p, diags
	}
	a := content.Attributes
	diags = append(diags, evalString(ctx, a["name"], &p.Name)...)
	diags = append(diags, evalString(ctx, a["pause_before"], &p.PauseBefore)...)
	diags = append(diags, evalString(ctx, a["timeout"], &p.Timeout)...)
	diags = append(diags, evalInt(ctx, a["max_retries"], &p.MaxRetries)...)
	diags = append(diags, evalStrings(ctx, a["only"], &p.Only)...)
	diags = append(diags, evalStrings(ctx, a["except"], &p.Except)...)
	diags = append(diags, checkOnlyExcept(a["only"], a["except"], p.Only, p.Except)...)
	for _, pair := range []struct {
		attr *hcl.Attribute
		s    string
	}{{a["pause_before"], p.PauseBefore}, {a["timeout"], p.Timeout}} {
		if pair.attr != nil {
			if _, err := hcldecode.ParseDuration(pair.s); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + pair.attr.Name, Detail: err.Error(), Subject: pair.attr.Expr.Range().Ptr()})
			}
		}
	}
	if oa := a["override"]; oa != nil {
		val, d := oa.Expr.Value(ctx)
		diags = append(diags, d...)
		// Marks stay on the options inside, which are decoded later.
		val = unmarkOuter(val)
		if !d.HasErrors() && !val.IsNull() && val.IsWhollyKnown() {
			if !val.Type().IsObjectType() && !val.Type().IsMapType() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid override", Detail: "override must be an object whose keys are source names and whose values are objects of options.", Subject: oa.Expr.Range().Ptr()})
			} else {
				p.Override = map[string]cty.Value{}
				for k, v := range val.AsValueMap() {
					v = unmarkOuter(v)
					if !v.Type().IsObjectType() && !v.Type().IsMapType() {
						diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid override", Detail: fmt.Sprintf("override[%q] must be an object of options.", k), Subject: oa.Expr.Range().Ptr()})
						continue
					}
					p.Override[k] = v
				}
			}
		}
	}
	return p, diags
}

func (t *Template) decodePostProcessor(ctx *hcl.EvalContext, blk *hcl.Block) (*PostProcessorBlock, hcl.Diagnostics) {
	pp := &PostProcessorBlock{Type: blk.Labels[0], DefRange: blk.DefRange, TypeRange: blk.LabelRanges[0]}
	var diags hcl.Diagnostics
	if !t.catalog.Has(plugin.KindPostProcessor, pp.Type) {
		diags = append(diags, t.unknownComponent(plugin.KindPostProcessor, pp.Type, pp.TypeRange))
	}
	content, rest, d := blk.Body.PartialContent(postProcessorMetaSchema)
	diags = append(diags, d...)
	pp.Body = rest
	if content == nil {
		return pp, diags
	}
	a := content.Attributes
	diags = append(diags, evalString(ctx, a["name"], &pp.Name)...)
	diags = append(diags, evalStrings(ctx, a["only"], &pp.Only)...)
	diags = append(diags, evalStrings(ctx, a["except"], &pp.Except)...)
	diags = append(diags, checkOnlyExcept(a["only"], a["except"], pp.Only, pp.Except)...)
	if k := a["keep_input_artifact"]; k != nil {
		var keep bool
		diags = append(diags, evalBool(ctx, k, &keep)...)
		pp.KeepInputArtifact = &keep
	}
	return pp, diags
}

func checkOnlyExcept(onlyA, exceptA *hcl.Attribute, only, except []string) hcl.Diagnostics {
	if len(only) > 0 && len(except) > 0 {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "only and except are both set",
			Detail:   "A block may use only or except, not both.",
			Subject:  exceptA.Range.Ptr(),
		}}
	}
	return nil
}

// skip reports whether a block with only/except is left out for a source
// named name ("TYPE.NAME").
func skip(only, except []string, name string) bool {
	if len(only) > 0 {
		for _, o := range only {
			if o == name {
				return false
			}
		}
		return true
	}
	for _, e := range except {
		if e == name {
			return true
		}
	}
	return false
}

func evalValue(ctx *hcl.EvalContext, a *hcl.Attribute, ty cty.Type, what string) (cty.Value, hcl.Diagnostics) {
	val, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	val = sensitive.Register(val)
	if val.IsNull() {
		return cty.NilVal, nil
	}
	if !val.IsWhollyKnown() {
		return cty.NilVal, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Value not known yet",
			Detail:   fmt.Sprintf("%s must be known before the build runs; it cannot depend on data sources or build.* values.", a.Name),
			Subject:  a.Expr.Range().Ptr(),
		})
	}
	conv, err := convert.Convert(val, ty)
	if err != nil {
		return cty.NilVal, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s required.", a.Name, what),
			Subject:  a.Expr.Range().Ptr(),
		})
	}
	return conv, diags
}

func evalString(ctx *hcl.EvalContext, a *hcl.Attribute, dst *string) hcl.Diagnostics {
	if a == nil {
		return nil
	}
	v, diags := evalValue(ctx, a, cty.String, "a string is")
	if !isNilVal(v) {
		*dst = v.AsString()
	}
	return diags
}

func evalBool(ctx *hcl.EvalContext, a *hcl.Attribute, dst *bool) hcl.Diagnostics {
	if a == nil {
		return nil
	}
	v, diags := evalValue(ctx, a, cty.Bool, "a bool is")
	if !isNilVal(v) {
		*dst = v.True()
	}
	return diags
}

func evalInt(ctx *hcl.EvalContext, a *hcl.Attribute, dst *int) hcl.Diagnostics {
	if a == nil {
		return nil
	}
	v, diags := evalValue(ctx, a, cty.Number, "a number is")
	if !isNilVal(v) {
		i, _ := v.AsBigFloat().Int64()
		*dst = int(i)
	}
	return diags
}

func evalStrings(ctx *hcl.EvalContext, a *hcl.Attribute, dst *[]string) hcl.Diagnostics {
	if a == nil {
		return nil
	}
	v, diags := evalValue(ctx, a, cty.List(cty.String), "a list of strings is")
	if !isNilVal(v) {
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if !e.IsNull() {
				*dst = append(*dst, e.AsString())
			}
		}
	}
	return diags
}

// unmarkOuter moves v's own marks onto the values it holds, so that it
// can be taken apart while what is inside stays marked.
func unmarkOuter(v cty.Value) cty.Value {
	v, marks := v.Unmark()
	if len(marks) == 0 || !v.IsKnown() || v.IsNull() || !v.CanIterateElements() {
		return v
	}
	ty := v.Type()
	if !ty.IsObjectType() && !ty.IsMapType() {
		return v.WithMarks(marks)
	}
	m := v.AsValueMap()
	for k, e := range m {
		m[k] = e.WithMarks(marks)
	}
	if ty.IsMapType() {
		return cty.MapVal(m)
	}
	return cty.ObjectVal(m)
}

// isNilVal reports whether v is cty.NilVal (comparing cty values with ==
// can panic).
func isNilVal(v cty.Value) bool { return v.Type() == cty.NilType }
