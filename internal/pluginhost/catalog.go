package pluginhost

import (
	"sort"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/pluginhost/installed"
)

// catalog is the built-in plugins, then the installed plugins' components.
type catalog struct {
	base  plugin.Catalog
	host  *Host
	comps map[installed.Kind]map[string]installed.Component
}

func installedKind(k plugin.Kind) installed.Kind {
	switch k {
	case plugin.KindBuilder:
		return installed.Builder
	case plugin.KindProvisioner:
		return installed.Provisioner
	case plugin.KindPostProcessor:
		return installed.PostProcessor
	case plugin.KindDataSource:
		return installed.Datasource
	}
	return ""
}

func (c *catalog) external(kind plugin.Kind, typ string) (installed.Component, bool) {
	comp, ok := c.comps[installedKind(kind)][typ]
	return comp, ok && comp.Plugin != nil
}

func (c *catalog) Has(kind plugin.Kind, typ string) bool {
	if c.base.Has(kind, typ) {
		return true
	}
	_, ok := c.external(kind, typ)
	return ok
}

func (c *catalog) Types(kind plugin.Kind) []string {
	seen := map[string]bool{}
	out := append([]string(nil), c.base.Types(kind)...)
	for _, t := range out {
		seen[t] = true
	}
	for t, comp := range c.comps[installedKind(kind)] {
		if !seen[t] && comp.Plugin != nil {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

func (c *catalog) New(kind plugin.Kind, typ string) (plugin.Configurable, bool) {
	if c.base.Has(kind, typ) {
		return c.base.New(kind, typ)
	}
	comp, ok := c.external(kind, typ)
	if !ok {
		return nil, false
	}
	base := &component{host: c.host, comp: comp, typ: typ}
	switch kind {
	case plugin.KindBuilder:
		return &Builder{component: base}, true
	case plugin.KindProvisioner:
		return &Provisioner{component: base}, true
	case plugin.KindPostProcessor:
		return &PostProcessor{component: base}, true
	case plugin.KindDataSource:
		return &DataSource{component: base}, true
	}
	return nil, false
}
