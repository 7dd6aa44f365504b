package amazonami

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
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
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		if awsclient.Code(err) == "ResourceNotFoundException" {
			return "", fmt.Errorf("secret %q does not exist in %s: check the name and region (AWS_REGION)", name, cfg.Region)
		}
		return "", fmt.Errorf("reading secret %q: %w", name, awsclient.Explain(err))
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secret %q holds binary data, not a string", name)
	}
	secret.AddSensitive(*out.SecretString)
	return *out.SecretString, nil
}

func pickKey(name, raw, key string) (string, error) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		if key == "" {
			return raw, nil
		}
		return "", fmt.Errorf("secret %q is not a JSON object, so it has no key %q: use aws_secretsmanager_raw", name, key)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if key == "" {
		if len(obj) != 1 {
			return "", fmt.Errorf("secret %q has keys %s: name the one you want", name, strings.Join(keys, ", "))
		}
		key = keys[0]
	}
	v, ok := obj[key]
	if !ok {
		return "", fmt.Errorf("secret %q has no key %q (it has %s)", name, key, strings.Join(keys, ", "))
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, _ := json.Marshal(v)
	return string(b), nil
}
