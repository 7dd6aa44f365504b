package funcs

import (
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// StartsWithFunc is true when str begins with prefix.
var StartsWithFunc = stringPredicate("Returns true if the string begins with the prefix.", "prefix", strings.HasPrefix)

// EndsWithFunc is true when str ends with suffix.
var EndsWithFunc = stringPredicate("Returns true if the string ends with the suffix.", "suffix", strings.HasSuffix)

// StrContainsFunc is true when str contains substr.
var StrContainsFunc = stringPredicate("Returns true if the string contains the substring.", "substr", strings.Contains)

func stringPredicate(desc, second string, pred func(s, t string) bool) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params: []function.Parameter{
			{Name: "str", Type: cty.String},
			{Name: second, Type: cty.String},
		},
		Type:         function.StaticReturnType(cty.Bool),
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(pred(args[0].AsString(), args[1].AsString())), nil
		},
	})
}
