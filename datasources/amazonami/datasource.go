package amazonami

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

func init() {
	plugin.RegisterDataSource("amazon-ami", func() plugin.DataSource { return &DataSource{} })
}

// Config is the amazon-ami data block: the access options and an AMI filter.
type Config struct {
	awsclient.AccessConfig
	awsclient.AMIFilter
}

// DataSource looks up one AMI (data.amazon-ami.NAME.id).
type DataSource struct{ cfg Config }

// Config returns the block's configuration struct.
func (d *DataSource) Config() any { return &d.cfg }

// Prepare checks the block offline.
func (d *DataSource) Prepare() ([]string, error) {
	var errs []error
	if err := d.cfg.AccessConfig.Prepare(); err != nil {
		errs = append(errs, err)
	}
	if d.cfg.AMIFilter.Empty() {
		errs = append(errs, errors.New("filters or owners must be set: they select the AMI"))
	} else if len(d.cfg.Owners) == 0 {
		errs = append(errs, errors.New("owners must be set (anyone can publish an AMI with a given name)"))
	}
	return nil, errors.Join(errs...)
}

// OutputType is the object data.amazon-ami.NAME evaluates to.
func (d *DataSource) OutputType() cty.Type {
	return cty.Object(map[string]cty.Type{
		"id":                  cty.String,
		"name":                cty.String,
		"creation_date":       cty.String,
		"owner":               cty.String,
		"owner_name":          cty.String,
		"root_device_name":    cty.String,
		"root_device_type":    cty.String,
		"virtualization_type": cty.String,
		"architecture":        cty.String,
		"description":         cty.String,
		"tags":                cty.Map(cty.String),
	})
}

// Execute asks EC2 for the AMI.
func (d *DataSource) Execute(ctx context.Context) (cty.Value, error) {
	cfg, err := d.cfg.Load(ctx, "")
	if err != nil {
		return cty.NilVal, fmt.Errorf("amazon-ami: %w", err)
	}
	img, err := d.cfg.AMIFilter.Find(ctx, d.cfg.EC2(cfg))
	if err != nil {
		return cty.NilVal, fmt.Errorf("amazon-ami in %s: %w", cfg.Region, err)
	}
	tags := map[string]cty.Value{}
	for k, v := range awsclient.Tags(img.Tags) {
		tags[k] = cty.StringVal(v)
	}
	tagVal := cty.MapValEmpty(cty.String)
	if len(tags) > 0 {
		tagVal = cty.MapVal(tags)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"id":                  cty.StringVal(aws.ToString(img.ImageId)),
		"name":                cty.StringVal(aws.ToString(img.Name)),
		"creation_date":       cty.StringVal(aws.ToString(img.CreationDate)),
		"owner":               cty.StringVal(aws.ToString(img.OwnerId)),
		"owner_name":          cty.StringVal(aws.ToString(img.ImageOwnerAlias)),
		"root_device_name":    cty.StringVal(aws.ToString(img.RootDeviceName)),
		"root_device_type":    cty.StringVal(string(img.RootDeviceType)),
		"virtualization_type": cty.StringVal(string(img.VirtualizationType)),
		"architecture":        cty.StringVal(string(img.Architecture)),
		"description":         cty.StringVal(aws.ToString(img.Description)),
		"tags":                tagVal,
	}), nil
}
