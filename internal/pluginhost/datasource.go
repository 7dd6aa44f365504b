package pluginhost

import (
	"context"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// DataSource is a data source served by an installed plugin.
type DataSource struct {
	*component
}

var (
	_ plugin.DataSource       = (*DataSource)(nil)
	_ plugin.SpecConfigurable = (*DataSource)(nil)
)

// Config returns nil: the data source is configured through ConfigSpec.
func (d *DataSource) Config() any { return nil }

// Prepare is not used (see plugin.SpecConfigurable).
func (d *DataSource) Prepare() ([]string, error) { return nil, errSpecOnly }

// ConfigSpec asks the plugin for its options (once per type).
func (d *DataSource) ConfigSpec() (hcldec.ObjectSpec, error) {
	return d.cachedSpec("config", func(p *process) hcldec.ObjectSpec { return p.client.Datasource().ConfigSpec() })
}

// Configure runs the plugin's Configure with the decoded block. Packer
// passes data sources no core values.
func (d *DataSource) Configure(cfg cty.Value, _ plugin.CoreValues) ([]string, error) {
	return nil, d.configure("configuring "+d.label(), func(p *process) error {
		return p.client.Datasource().Configure(cfg)
	})
}

// OutputType is the type the plugin's OutputSpec describes: the value of
// data.TYPE.NAME when data sources are not executed. It is
// cty.DynamicPseudoType when the plugin cannot say (its error was already
// reported by ConfigSpec or Configure).
func (d *DataSource) OutputType() cty.Type {
	spec, err := d.cachedSpec("output", func(p *process) hcldec.ObjectSpec { return p.client.Datasource().OutputSpec() })
	if err != nil {
		return cty.DynamicPseudoType
	}
	return hcldec.ImpliedType(spec)
}

// Execute runs the data source. The protocol cannot cancel it: when ctx
// ends the plugin gets the grace period, then is killed.
func (d *DataSource) Execute(ctx context.Context) (cty.Value, error) {
	val := cty.NilVal
	err := d.runLong(ctx, func(p *process) error {
		v, err := p.client.Datasource().Execute()
		val = v
		return err
	})
	if err != nil {
		return cty.NilVal, err
	}
	return val, nil
}
