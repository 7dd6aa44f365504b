package funcs

import (
	"fmt"
	"os"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// EnvFunc returns an environment variable's value, or "" when it is unset.
// Packer allows it only in a variable's default; the template engine
// enforces where it may be called.
var EnvFunc = function.New(&function.Spec{
	Description: "Returns the value of an environment variable, or an empty string when it is not set.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(os.Getenv(args[0].AsString())), nil
	},
})

const (
	awsSecretsManagerHelp = "reading AWS Secrets Manager is not available in this build of imgbuild; " +
		"pass the secret in a sensitive variable instead (-var, -var-file or PKR_VAR_<name>)"
	consulHelp = "reading Consul's key/value store is not available in this build of imgbuild; " +
		"pass the value in a variable instead (-var, -var-file or PKR_VAR_<name>)"
	vaultHelp = "reading HashiCorp Vault is not available in this build of imgbuild; " +
		"pass the secret in a sensitive variable instead (-var, -var-file or PKR_VAR_<name>)"
)

// unavailable is the placeholder for a function that reads an external
// service this build does not talk to. It accepts Packer's arguments (so
// the call type-checks like Packer's) and fails when called, saying what to
// do. A plugin that implements the service registers the real function
// under the same name, which replaces this one.
func unavailable(name, help string, params ...string) function.Function {
	ps := make([]function.Parameter, len(params))
	for i, p := range params {
		ps[i] = function.Parameter{Name: p, Type: cty.String, AllowNull: true}
	}
	return function.New(&function.Spec{
		Description: name + " is not available in this build of imgbuild.",
		Params:      ps,
		Type:        function.StaticReturnType(cty.String),
		Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
			return cty.NilVal, fmt.Errorf("%s: %s", name, help)
		},
	})
}
