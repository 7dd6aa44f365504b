package amazonami

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
)

func init() {
	plugin.RegisterFunction("aws_secretsmanager", secretsManagerFunc)
	plugin.RegisterFunction("aws_secretsmanager_raw", secretsManagerRawFunc)
}

// secretTimeout bounds one Secrets Manager lookup: HCL functions get no
// context, and a template must not hang on an unreachable endpoint.
const secretTimeout = 30 * time.Second

// aws_secretsmanager(name, key): the value of key in the JSON secret name.
// A null or empty key takes the whole secret when it is not a JSON object,
// or the only value when the object has one key.
var secretsManagerFunc = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "name", Type: cty.String},
		{Name: "key", Type: cty.String, AllowNull: true},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		name := args[0].AsString()
		key := ""
		if !args[1].IsNull() {
			key = args[1].AsString()
		}
		raw, err := fetchSecret(name)
		if err != nil {
			return cty.NilVal, err
		}
		v, err := pickKey(name, raw, key)
		if err != nil {
			return cty.NilVal, err
		}
		secret.AddSensitive(v)
		return cty.StringVal(v), nil
	},
})

// aws_secretsmanager_raw(name): the secret's whole string.
var secretsManagerRawFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "name", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		raw, err := fetchSecret(args[0].AsString())
		if err != nil {
			return cty.NilVal, err
		}
		secret.AddSensitive(raw)
		return cty.StringVal(raw), nil
	},
})

func fetchSecret(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), secretTimeout)
	defer cancel()
	var access awsclient.AccessConfig
	cfg, err := access.Load(ctx, "")
	if err != nil {
		return "", fmt.Errorf("reading secret %q: %w", name, err)
	}
	out, err := awsclient.GetSecret(ctx, cfg, name, "", "")
	if err != nil {
		return "", err
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secret %q holds binary data, not a string", name)
	}
	return *out.SecretString, nil
}

func pickKey(name, raw, key string) (string, error) {
	v, err := awsclient.SecretKey(name, raw, key)
	if errors.Is(err, awsclient.ErrSecretNotObject) {
		return "", fmt.Errorf("%w: use aws_secretsmanager_raw", err)
	}
	return v, err
}
