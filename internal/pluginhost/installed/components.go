package installed

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
)

// Components names the components that plugins serve, as a template
// refers to them, in Packer's order of precedence (a later rule replaces
// an earlier one's name):
//  1. the highest version of every plugin in the layout, named after the
//     plugin (NAME for the default component, NAME-COMPONENT otherwise);
//  2. the legacy single binaries, named after their file name;
//  3. each required_plugins entry: the highest installed version of its
//     source that meets its constraint, named after the entry's local name.
//
// A requirement that nothing installed meets is an error at its range
// that says how to install the plugin, unless imgbuild serves it natively.
func Components(plugins []*Plugin, reqs []Requirement) (map[Kind]map[string]Component, hcl.Diagnostics) {
	out := map[Kind]map[string]Component{}
	highest := map[string]*Plugin{}
	var order []string
	for _, p := range plugins {
		if p.Source == "" {
			continue
		}
		if h, ok := highest[p.Source]; !ok || versionLess(h.Version, p.Version) {
			if !ok {
				order = append(order, p.Source)
			}
			highest[p.Source] = p
		}
	}
	for _, src := range order {
		name(out, highest[src], highest[src].Name)
	}
	for _, p := range plugins {
		if p.Source == "" {
			name(out, p, p.Name)
		}
	}
	var diags hcl.Diagnostics
	for _, r := range reqs {
		p, d := Choose(plugins, r)
		diags = append(diags, d...)
		if p != nil {
			name(out, p, r.LocalName)
		}
	}
	return out, diags
}

// name adds the components p serves under prefix.
func name(out map[Kind]map[string]Component, p *Plugin, prefix string) {
	for kind, names := range map[Kind][]string{
		Builder:       p.Desc.Builders,
		Provisioner:   p.Desc.Provisioners,
		PostProcessor: p.Desc.PostProcessors,
		Datasource:    p.Desc.Datasources,
	} {
		for _, n := range names {
			typ := prefix + "-" + n
			if n == DefaultName {
				typ = prefix
			}
			if out[kind] == nil {
				out[kind] = map[string]Component{}
			}
			out[kind][typ] = Component{Kind: kind, Type: typ, Name: n, Plugin: p}
		}
	}
}

// Choose picks the highest installed version of r's source meeting r's
// constraint.
func Choose(plugins []*Plugin, r Requirement) (*Plugin, hcl.Diagnostics) {
	src, err := ParseSource(r.Source)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid plugin source", Detail: err.Error() + ".", Subject: r.Range.Ptr()}}
	}
	var constraint version.Constraints
	if r.Constraint != "" {
		constraint, err = version.NewConstraint(r.Constraint)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid plugin version constraint", Detail: fmt.Sprintf("%q is not a version constraint: %v.", r.Constraint, err), Subject: r.Range.Ptr()}}
		}
	}
	var best *Plugin
	var seen []string
	for _, p := range plugins {
		if p.Source != src.String() {
			continue
		}
		seen = append(seen, p.Version)
		if _, err := version.NewVersion(p.Version); err != nil || (constraint != nil && !meets(constraint, p.Version)) {
			continue
		}
		if best == nil || versionLess(best.Version, p.Version) {
			best = p
		}
	}
	if best != nil || r.BuiltIn {
		return best, nil
	}
	want := src.String()
	if r.Constraint != "" {
		want += " " + r.Constraint
	}
	have := "none is installed"
	if len(seen) > 0 {
		have = "installed: " + strings.Join(seen, ", ")
	}
	return nil, hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Missing plugin " + want,
		Detail: fmt.Sprintf("No installed version of %s meets the template's requirement (%s). "+
			"Install it with `imgbuild init` on this template (downloads it from its releases), "+
			"or, offline, with `imgbuild plugins install --path /path/to/packer-plugin-%s %s`.",
			src, have, src.Name, src),
		Subject: r.Range.Ptr(),
	}}
}
