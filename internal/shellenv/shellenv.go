// Package shellenv builds the environment Packer gives shell scripts: the
// configured variables (checked), PACKER_BUILD_NAME and friends, and
// their rendering with env_var_format. The shell and shell-local plugins
// share it.
package shellenv

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseEnv merges environment_vars ("KEY=value") and env (which wins on
// duplicates) into one map, checking every name.
func ParseEnv(vars []string, env map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !envName.MatchString(k) {
			return nil, fmt.Errorf("environment_vars entry %q is not KEY=value with a valid shell name", kv)
		}
		out[k] = v
	}
	for k, v := range env {
		if !envName.MatchString(k) {
			return nil, fmt.Errorf("env key %q is not a valid shell variable name", k)
		}
		out[k] = v
	}
	return out, nil
}

// PackerEnv returns the variables Packer gives every shell script:
// PACKER_BUILD_NAME, PACKER_BUILDER_TYPE, and PACKER_HTTP_ADDR (with
// PACKER_HTTP_IP and PACKER_HTTP_PORT) when the builder serves files.
func PackerEnv(buildName, builderType string, gen plugin.GeneratedData) map[string]string {
	out := map[string]string{
		"PACKER_BUILD_NAME":   buildName,
		"PACKER_BUILDER_TYPE": builderType,
	}
	if addr := gen["PackerHTTPAddr"]; addr != "" {
		out["PACKER_HTTP_ADDR"] = addr
		out["PACKER_HTTP_IP"] = gen["PackerHTTPIP"]
		out["PACKER_HTTP_PORT"] = gen["PackerHTTPPort"]
	}
	return out
}

// FlattenEnv writes vars with format (Packer's env_var_format, such as
// "%s='%s' "), sorted by name. When the format single-quotes the value,
// single quotes inside it are escaped so that no value can end the
// quoting and inject commands.
func FlattenEnv(format string, vars map[string]string) string {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	quoted := strings.Contains(format, "'%s'")
	var b strings.Builder
	for _, k := range keys {
		v := vars[k]
		if quoted {
			v = strings.ReplaceAll(v, "'", `'"'"'`)
		}
		fmt.Fprintf(&b, format, k, v)
	}
	return b.String()
}

// Quote single-quotes s for /bin/sh.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'" }
