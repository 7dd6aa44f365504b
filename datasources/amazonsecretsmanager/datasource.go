// Package amazonsecretsmanager is the amazon plugin's amazon-secretsmanager
// data source: data.amazon-secretsmanager.NAME.value is a secret (or one
// key of a JSON secret) read from AWS Secrets Manager before the sources
// are evaluated. Every output that holds the secret is marked sensitive,
// so it and any value computed from it are masked.
package amazonsecretsmanager

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/sensitive"
)

func init() {
	plugin.RegisterDataSource("amazon-secretsmanager", func() plugin.DataSource { return &DataSource{} })
}

// Config is the data block: the access options, the secret, and which
// key and version of it.
type Config struct {
	awsclient.AccessConfig
	Name         string `hcl:"name,optional"`
	Key          string `hcl:"key,optional"`
	VersionID    string `hcl:"version_id,optional"`
	VersionStage string `hcl:"version_stage,optional"`
}

// DataSource reads Config.Name.
type DataSource struct{ cfg Config }

// Config returns the block's configuration struct.
func (d *DataSource) Config() any { return &d.cfg }

// Prepare checks the block offline.
func (d *DataSource) Prepare() ([]string, error) {
	var errs []error
	if err := d.cfg.AccessConfig.Prepare(); err != nil {
		errs = append(errs, err)
	}
	if d.cfg.Name == "" {
		errs = append(errs, errors.New("name must be set: the secret's name or ARN"))
	}
	if d.cfg.VersionStage == "" {
		d.cfg.VersionStage = "AWSCURRENT"
	}
	return nil, errors.Join(errs...)
}

// OutputType is the object data.amazon-secretsmanager.NAME evaluates to.
func (d *DataSource) OutputType() cty.Type {
	return cty.Object(map[string]cty.Type{
		"value":         cty.String,
		"secret_string": cty.String,
		"secret_binary": cty.String,
		"version_id":    cty.String,
	})
}

// Execute reads the secret. version_id, when set, wins over
// version_stage, as in Packer.
func (d *DataSource) Execute(ctx context.Context) (cty.Value, error) {
	cfg, err := d.cfg.Load(ctx, "")
	if err != nil {
		return cty.NilVal, fmt.Errorf("amazon-secretsmanager: %w", err)
	}
	out, err := awsclient.GetSecret(ctx, cfg, d.cfg.Name, d.cfg.VersionID, d.cfg.VersionStage)
	if err != nil {
		return cty.NilVal, err
	}
	str := aws.ToString(out.SecretString)
	value := ""
	if out.SecretString != nil {
		if value, err = awsclient.SecretKey(d.cfg.Name, str, d.cfg.Key); err != nil {
			return cty.NilVal, err
		}
	} else if d.cfg.Key != "" {
		return cty.NilVal, fmt.Errorf("secret %q holds binary data (secret_binary), so it has no key %q", d.cfg.Name, d.cfg.Key)
	}
	binary := ""
	if out.SecretBinary != nil {
		binary = base64.StdEncoding.EncodeToString(out.SecretBinary)
	}
	secret.AddSensitive(value, binary)
	return cty.ObjectVal(map[string]cty.Value{
		"value":         sensitive.Mark(cty.StringVal(value)),
		"secret_string": sensitive.Mark(cty.StringVal(str)),
		"secret_binary": sensitive.Mark(cty.StringVal(binary)),
		"version_id":    cty.StringVal(aws.ToString(out.VersionId)),
	}), nil
}
