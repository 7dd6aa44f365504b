package template

import (
	"context"
	"errors"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// Test-only plugins, registered under names no real plugin uses, so the
// engine's tests do not depend on the real plugins' progress.

type testComm struct {
	Communicator string        `hcl:"communicator,optional"`
	SSHUsername  string        `hcl:"ssh_username,optional"`
	SSHTimeout   time.Duration `hcl:"ssh_timeout,optional"`
}

type testFilter struct {
	Name   string            `hcl:"name,label"`
	Values []string          `hcl:"values,optional"`
	Tags   map[string]string `hcl:"tags,optional"`
}

type testDevice struct {
	DeviceName string `hcl:"device_name"`
	VolumeSize int    `hcl:"volume_size,optional"`
}

type testBuilderConfig struct {
	Image    string            `hcl:"image"`
	Pull     *bool             `hcl:"pull,optional"`
	Count    int               `hcl:"count,optional"`
	Ratio    float64           `hcl:"ratio,optional"`
	Changes  []string          `hcl:"changes,optional"`
	Labels   map[string]string `hcl:"labels,optional"`
	Timeout  time.Duration     `hcl:"timeout,optional"`
	Raw      cty.Value         `hcl:"raw,optional"`
	Filter   *testFilter       `hcl:"filter,block"`
	Devices  []testDevice      `hcl:"device,block"`
	Platform *string           `hcl:"platform,optional"`
	testComm
}

type testBuilder struct{ cfg testBuilderConfig }

func (b *testBuilder) Config() any { return &b.cfg }
func (b *testBuilder) Prepare() ([]string, error) {
	var warns []string
	if b.cfg.Image == "bad" {
		return nil, errors.Join(errors.New("image \"bad\" is not allowed"), errors.New("second problem"))
	}
	if b.cfg.Image == "warn" {
		warns = append(warns, "image warn is deprecated")
	}
	return warns, nil
}
func (b *testBuilder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	return nil, errors.New("test builder does not run")
}
func (b *testBuilder) GeneratedKeys() []string { return []string{"TestKey"} }

type testProvConfig struct {
	Inline      []string          `hcl:"inline,optional"`
	Script      string            `hcl:"script,optional"`
	Environment map[string]string `hcl:"environment_vars,optional"`
}

type testProv struct{ cfg testProvConfig }

func (p *testProv) Config() any { return &p.cfg }
func (p *testProv) Prepare() ([]string, error) {
	if p.cfg.Script == "" && len(p.cfg.Inline) == 0 {
		return nil, errors.New("one of inline or script is required")
	}
	return nil, nil
}
func (p *testProv) Provision(ctx context.Context, env *plugin.ProvisionEnv) error { return nil }

type testPPConfig struct {
	Output string `hcl:"output,optional"`
}

type testPP struct{ cfg testPPConfig }

func (p *testPP) Config() any                { return &p.cfg }
func (p *testPP) Prepare() ([]string, error) { return nil, nil }
func (p *testPP) PostProcess(ctx context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	return in, false, false, nil
}

type testDataConfig struct {
	Want string `hcl:"want"`
}

type testData struct{ cfg testDataConfig }

func (d *testData) Config() any                { return &d.cfg }
func (d *testData) Prepare() ([]string, error) { return nil, nil }
func (d *testData) OutputType() cty.Type {
	return cty.Object(map[string]cty.Type{"id": cty.String})
}
func (d *testData) Execute(ctx context.Context) (cty.Value, error) {
	return cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal("id-" + d.cfg.Want)}), nil
}

func init() {
	plugin.RegisterBuilder("test-builder", func() plugin.Builder { return &testBuilder{} })
	plugin.RegisterProvisioner("test-prov", func() plugin.Provisioner { return &testProv{} })
	plugin.RegisterPostProcessor("test-pp", func() plugin.PostProcessor { return &testPP{} })
	plugin.RegisterDataSource("test-data", func() plugin.DataSource { return &testData{} })
}

// panicBuilder's Prepare panics, as a buggy plugin might.
type panicBuilder struct{ testBuilder }

func (b *panicBuilder) Prepare() ([]string, error) { panic("index out of range") }

func init() {
	plugin.RegisterBuilder("test-panics", func() plugin.Builder { return &panicBuilder{} })
}
