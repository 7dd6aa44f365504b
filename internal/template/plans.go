package template

import (
	"fmt"
	"path"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/template/hcldecode"
)

// Plans returns one BuildPlan per (build block x source), filtered by
// Packer's -only and -except globs (matched against the full build name,
// "docker.hello" or "mybuild.docker.hello"). Every builder is decoded and
// prepared; every provisioner and post-processor is decoded and prepared
// once with the build.* values unknown, so that validate reports their
// mistakes too.
func (t *Template) Plans(only, except []string) ([]*BuildPlan, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	for _, g := range append(append([]string(nil), only...), except...) {
		if _, err := path.Match(g, ""); err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid -only/-except pattern",
				Detail:   fmt.Sprintf("%q is not a valid glob: %v.", g, err),
			})
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	type job struct {
		b    *Build
		use  *SourceUse
		name string
		full string
	}
	var jobs []job
	for _, b := range t.builds {
		for _, use := range b.Sources {
			if full := b.FullName(use); selected(full, only, except) {
				jobs = append(jobs, job{b, use, use.Source.Type + "." + use.Name, full})
			}
		}
	}
	var plans []*BuildPlan
	for _, j := range jobs {
		p, d := t.plan(j.b, j.use, j.name, j.full, except)
		diags = append(diags, d...)
		if p != nil {
			plans = append(plans, p)
		}
	}
	explainDiagnostics(diags)
	return plans, t.remapLegacy(diags)
}

func selected(name string, only, except []string) bool {
	match := func(globs []string) bool {
		for _, g := range globs {
			if ok, _ := path.Match(g, name); ok {
				return true
			}
		}
		return false
	}
	if len(only) > 0 && !match(only) {
		return false
	}
	return !match(except)
}

// plan builds one BuildPlan. except also drops post-processors whose name
// (or type, when unnamed) matches, as Packer's -except does.
func (t *Template) plan(b *Build, use *SourceUse, name, full string, except []string) (*BuildPlan, hcl.Diagnostics) {
	src := use.Source
	c, ok := t.catalog.New(plugin.KindBuilder, src.Type)
	if !ok {
		return nil, hcl.Diagnostics{t.unknownComponent(plugin.KindBuilder, src.Type, src.TypeRange)}
	}
	builder := c.(plugin.Builder)
	body := src.Body
	if use.Body != nil {
		body = overlayBody{base: src.Body, over: use.Body, fillOnly: true}
	}
	allowUnknown := !t.opts.EvaluateDataSources
	srcCtx := t.sourceContext(src.Type, use.Name)
	core := plugin.CoreValues{
		BuildName: use.Name, BuilderType: src.Type, CoreVersion: PackerVersion,
		Debug: t.opts.Debug, Force: t.opts.Force, OnError: t.opts.OnError,
	}
	diags := configure(builder, body, srcCtx, src.DeclRange, allowUnknown, &core, t.legacy != nil)

	p := &BuildPlan{
		Name: full, BuildName: b.Name, SourceType: src.Type, SourceName: use.Name,
		Builder: builder, DefRange: use.DefRange,
	}
	keys := generatedKeys(builder)
	sc := &scope{build: b, use: use, name: name, full: full, keys: keys, srcCtx: srcCtx, catalog: t.catalog, core: core, weak: t.legacy != nil}
	for _, pb := range b.Provisioners {
		if skip(pb.Only, pb.Except, name) && skip(pb.Only, pb.Except, full) {
			continue
		}
		pp, d := sc.provisionerPlan(pb)
		diags = append(diags, d...)
		p.Provisioners = append(p.Provisioners, pp)
	}
	if b.ErrorCleanup != nil {
		pp, d := sc.provisionerPlan(b.ErrorCleanup)
		diags = append(diags, d...)
		p.ErrorCleanup = pp
	}
	for _, chain := range b.PostProcessors {
		var out []*PostProcessorPlan
		for _, ppb := range chain {
			if skip(ppb.Only, ppb.Except, name) && skip(ppb.Only, ppb.Except, full) {
				continue
			}
			ppName := ppb.Name
			if ppName == "" {
				ppName = ppb.Type
			}
			if len(except) > 0 && !selected(ppName, nil, except) {
				continue
			}
			pp, d := sc.postProcessorPlan(ppb)
			diags = append(diags, d...)
			out = append(out, pp)
		}
		if len(out) > 0 {
			p.PostProcessors = append(p.PostProcessors, out)
		}
	}
	return p, diags
}

// generatedKeys lists the build.* names a builder provides.
func generatedKeys(b plugin.Builder) []string {
	keys := append([]string(nil), plugin.CommonGeneratedKeys...)
	if g, ok := b.(plugin.GeneratedKeyser); ok {
		keys = append(keys, g.GeneratedKeys()...)
	}
	return keys
}

// scope is what provisioners and post-processors of one plan see.
type scope struct {
	build   *Build
	use     *SourceUse
	name    string // "TYPE.NAME"
	full    string
	keys    []string
	srcCtx  *hcl.EvalContext // the template's context with source.*, shared with the builder
	catalog plugin.Catalog
	core    plugin.CoreValues // what Packer's core passes plugins beside their blocks
	weak    bool              // decode as Packer decodes legacy JSON templates
	// validateCtx is the context with build.* unknown, built once.
	validateCtx *hcl.EvalContext
}

// context adds build.* to the source's context. With generated nil, the
// build.* values (other than build.name) are unknown; otherwise missing
// ones are empty strings.
func (s *scope) context(generated plugin.GeneratedData) *hcl.EvalContext {
	if generated == nil && s.validateCtx != nil {
		return s.validateCtx
	}
	c := s.srcCtx.NewChild()
	bv := make(map[string]cty.Value, len(s.keys)+len(generated)+1)
	for _, k := range s.keys {
		if generated == nil {
			bv[k] = cty.UnknownVal(cty.String)
		} else {
			bv[k] = cty.StringVal(generated[k])
		}
	}
	for k, v := range generated {
		bv[k] = cty.StringVal(v)
	}
	bv["name"] = cty.StringVal(s.build.Name)
	c.Variables = map[string]cty.Value{"build": cty.ObjectVal(bv)}
	if generated == nil {
		s.validateCtx = c
	}
	return c
}

func (s *scope) overrideFor(pb *ProvisionerBlock) hcl.Body {
	if len(pb.Override) == 0 {
		return pb.Body
	}
	for _, key := range []string{s.use.Name, s.name, "source." + s.name, s.full} {
		if v, ok := pb.Override[key]; ok && v.IsWhollyKnown() && !v.IsNull() {
			return overlayBody{base: pb.Body, over: staticBody{values: v.AsValueMap(), rng: pb.DefRange}}
		}
	}
	return pb.Body
}

func (s *scope) provisionerPlan(pb *ProvisionerBlock) (*ProvisionerPlan, hcl.Diagnostics) {
	pause, _ := hcldecode.ParseDuration(pb.PauseBefore)
	timeout, _ := hcldecode.ParseDuration(pb.Timeout)
	body := s.overrideFor(pb)
	configureWith := func(generated plugin.GeneratedData, allowUnknown bool) (plugin.Provisioner, hcl.Diagnostics) {
		c, ok := s.catalog.New(plugin.KindProvisioner, pb.Type)
		if !ok {
			return nil, hcl.Diagnostics{unknownType("provisioner", pb.Type, s.catalog.Types(plugin.KindProvisioner), pb.TypeRange)}
		}
		p := c.(plugin.Provisioner)
		return p, configure(p, body, s.context(generated), pb.DefRange, allowUnknown, &s.core, s.weak)
	}
	plan := &ProvisionerPlan{
		Type: pb.Type, Name: pb.Name, PauseBefore: pause, MaxRetries: pb.MaxRetries,
		Timeout: timeout, DefRange: pb.DefRange,
		Configure: func(generated plugin.GeneratedData) (plugin.Provisioner, hcl.Diagnostics) {
			if generated == nil {
				generated = plugin.GeneratedData{}
			}
			return configureWith(generated, false)
		},
	}
	p, diags := configureWith(nil, true)
	release(p)
	return plan, diags
}

func (s *scope) postProcessorPlan(ppb *PostProcessorBlock) (*PostProcessorPlan, hcl.Diagnostics) {
	configureWith := func(generated plugin.GeneratedData, allowUnknown bool) (plugin.PostProcessor, hcl.Diagnostics) {
		c, ok := s.catalog.New(plugin.KindPostProcessor, ppb.Type)
		if !ok {
			return nil, hcl.Diagnostics{unknownType("post-processor", ppb.Type, s.catalog.Types(plugin.KindPostProcessor), ppb.TypeRange)}
		}
		p := c.(plugin.PostProcessor)
		return p, configure(p, ppb.Body, s.context(generated), ppb.DefRange, allowUnknown, &s.core, s.weak)
	}
	plan := &PostProcessorPlan{
		Type: ppb.Type, Name: ppb.Name, KeepInputArtifact: ppb.KeepInputArtifact, DefRange: ppb.DefRange,
		Configure: func(generated plugin.GeneratedData) (plugin.PostProcessor, hcl.Diagnostics) {
			if generated == nil {
				generated = plugin.GeneratedData{}
			}
			return configureWith(generated, false)
		},
	}
	p, diags := configureWith(nil, true)
	release(p)
	return plan, diags
}

// release stops the process of a plugin component that was only
// configured to validate its block: the build configures a new one with
// the build's values.
func release(c any) {
	if r, ok := c.(interface{ Release() }); ok {
		r.Release()
	}
}
