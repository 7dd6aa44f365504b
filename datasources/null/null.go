// Package null is Packer's core "null" data source: data.null.NAME.output
// is the block's input, unchanged. Templates use it to name a value.
package null

import (
	"context"
	"errors"

	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

func init() {
	plugin.RegisterDataSource("null", func() plugin.DataSource { return &DataSource{} })
}

// Config is the data block.
type Config struct {
	Input string `hcl:"input,optional"`
}

// DataSource returns its input.
type DataSource struct{ cfg Config }

// Config returns the block's configuration struct.
func (d *DataSource) Config() any { return &d.cfg }

// Prepare requires input, as Packer does.
func (d *DataSource) Prepare() ([]string, error) {
	if d.cfg.Input == "" {
		return nil, errors.New("input must be set: it becomes data.null.NAME.output")
	}
	return nil, nil
}

// OutputType is data.null.NAME's object.
func (d *DataSource) OutputType() cty.Type {
	return cty.Object(map[string]cty.Type{"output": cty.String})
}

// Execute returns the input as output.
func (d *DataSource) Execute(context.Context) (cty.Value, error) {
	return cty.ObjectVal(map[string]cty.Value{"output": cty.StringVal(d.cfg.Input)}), nil
}
