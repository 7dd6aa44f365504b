package awsclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// GetSecret reads secret name from Secrets Manager: the version versionID,
// or else the version labelled stage ("" is AWSCURRENT). The string it
// holds is registered as a secret (masked in all output) before it is
// returned.
func GetSecret(ctx context.Context, cfg aws.Config, name, versionID, stage string) (*secretsmanager.GetSecretValueOutput, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}
	version := stage
	switch {
	case versionID != "":
		in.VersionId, version = aws.String(versionID), versionID
	case stage != "":
		in.VersionStage = aws.String(stage)
	default:
		version = "AWSCURRENT"
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, in)
	if err != nil {
		if Code(err) == "ResourceNotFoundException" {
			return nil, fmt.Errorf("secret %q (version %s) does not exist in %s: check the name, the version and the region", name, version, cfg.Region)
		}
		return nil, fmt.Errorf("reading secret %q: %w", name, Explain(err))
	}
	if out.SecretString != nil {
		secret.AddSensitive(*out.SecretString)
	}
	return out, nil
}

// ErrSecretNotObject is SecretKey's error for a key asked of a secret that
// is not a JSON object.
var ErrSecretNotObject = errors.New("the secret is not a JSON object")

// SecretKey returns the value of key in raw, the JSON object secret name
// holds. An empty key takes raw whole when it is not a JSON object, or the
// object's only value; numbers and other JSON values come back as JSON.
func SecretKey(name, raw, key string) (string, error) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		if key == "" {
			return raw, nil
		}
		return "", fmt.Errorf("secret %q has no key %q: %w", name, key, ErrSecretNotObject)
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
