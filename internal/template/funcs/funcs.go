// Package funcs is the library of functions a Packer HCL2 template may call.
// It takes what go-cty's stdlib, go-cty-funcs and hcl's extensions already
// provide and writes only what none of them has, keeping Packer's names and
// semantics so that templates run unchanged.
package funcs

import (
	"github.com/hashicorp/go-cty-funcs/cidr"
	"github.com/hashicorp/go-cty-funcs/collection"
	"github.com/hashicorp/go-cty-funcs/crypto"
	"github.com/hashicorp/go-cty-funcs/encoding"
	"github.com/hashicorp/go-cty-funcs/filesystem"
	"github.com/hashicorp/go-cty-funcs/uuid"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	ctyyaml "github.com/zclconf/go-cty-yaml"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// Functions returns every function a Packer template may call, by name.
// baseDir is the directory relative paths in filesystem functions resolve
// against (Packer resolves them against the current working directory; the
// template engine passes that). Functions registered by plugins through
// plugin.Functions() override the built-in placeholders.
//
// Each call returns a new map the caller may change.
func Functions(baseDir string) map[string]function.Function {
	fns := builtins(baseDir)
	for name, f := range plugin.Functions() {
		fns[name] = f
	}
	// templatefile sees every other function, including plugin ones, but
	// not itself: a template may not render templates.
	fns["templatefile"] = makeTemplateFileFunc(baseDir, fns)
	return fns
}

func builtins(baseDir string) map[string]function.Function {
	return map[string]function.Function{
		// Numeric.
		"abs":      stdlib.AbsoluteFunc,
		"ceil":     stdlib.CeilFunc,
		"floor":    stdlib.FloorFunc,
		"log":      stdlib.LogFunc,
		"max":      stdlib.MaxFunc,
		"min":      stdlib.MinFunc,
		"parseint": stdlib.ParseIntFunc,
		"pow":      stdlib.PowFunc,
		"signum":   stdlib.SignumFunc,

		// String.
		"chomp":         stdlib.ChompFunc,
		"endswith":      EndsWithFunc,
		"format":        stdlib.FormatFunc,
		"formatlist":    stdlib.FormatListFunc,
		"indent":        stdlib.IndentFunc,
		"join":          stdlib.JoinFunc,
		"lower":         stdlib.LowerFunc,
		"regex":         stdlib.RegexFunc,
		"regex_replace": stdlib.RegexReplaceFunc,
		"regexall":      stdlib.RegexAllFunc,
		"replace":       stdlib.ReplaceFunc,
		"split":         stdlib.SplitFunc,
		"startswith":    StartsWithFunc,
		"strcontains":   StrContainsFunc,
		"strrev":        stdlib.ReverseFunc,
		"substr":        stdlib.SubstrFunc,
		"title":         stdlib.TitleFunc,
		"trim":          stdlib.TrimFunc,
		"trimprefix":    stdlib.TrimPrefixFunc,
		"trimspace":     stdlib.TrimSpaceFunc,
		"trimsuffix":    stdlib.TrimSuffixFunc,
		"upper":         stdlib.UpperFunc,

		// Collection.
		"alltrue":         AllTrueFunc,
		"anytrue":         AnyTrueFunc,
		"chunklist":       stdlib.ChunklistFunc,
		"coalesce":        collection.CoalesceFunc,
		"coalescelist":    stdlib.CoalesceListFunc,
		"compact":         stdlib.CompactFunc,
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"distinct":        stdlib.DistinctFunc,
		"element":         stdlib.ElementFunc,
		"flatten":         stdlib.FlattenFunc,
		"index":           IndexFunc,
		"keys":            stdlib.KeysFunc,
		"length":          LengthFunc,
		"lookup":          stdlib.LookupFunc,
		"merge":           stdlib.MergeFunc,
		"range":           stdlib.RangeFunc,
		"reverse":         stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setproduct":      stdlib.SetProductFunc,
		"setunion":        stdlib.SetUnionFunc,
		"slice":           stdlib.SliceFunc,
		"sort":            stdlib.SortFunc,
		"sum":             SumFunc,
		"values":          stdlib.ValuesFunc,
		"zipmap":          stdlib.ZipmapFunc,

		// Encoding.
		"base64decode":     encoding.Base64DecodeFunc,
		"base64encode":     encoding.Base64EncodeFunc,
		"base64gzip":       Base64GzipFunc,
		"csvdecode":        stdlib.CSVDecodeFunc,
		"jsondecode":       stdlib.JSONDecodeFunc,
		"jsonencode":       stdlib.JSONEncodeFunc,
		"textdecodebase64": TextDecodeBase64Func,
		"textencodebase64": TextEncodeBase64Func,
		"urlencode":        encoding.URLEncodeFunc,
		"yamldecode":       ctyyaml.YAMLDecodeFunc,
		"yamlencode":       ctyyaml.YAMLEncodeFunc,

		// Filesystem (templatefile is added by Functions).
		"abspath":    filesystem.AbsPathFunc,
		"basename":   filesystem.BasenameFunc,
		"dirname":    filesystem.DirnameFunc,
		"file":       filesystem.MakeFileFunc(baseDir, false),
		"filebase64": filesystem.MakeFileFunc(baseDir, true),
		"fileexists": filesystem.MakeFileExistsFunc(baseDir),
		"fileset":    filesystem.MakeFileSetFunc(baseDir),
		"pathexpand": filesystem.PathExpandFunc,

		// Date and time.
		"formatdate":      stdlib.FormatDateFunc,
		"legacy_isotime":  LegacyIsotimeFunc,
		"legacy_strftime": LegacyStrftimeFunc,
		"timeadd":         stdlib.TimeAddFunc,
		"timestamp":       TimestampFunc,

		// Hash and crypto.
		"bcrypt":     crypto.BcryptFunc,
		"md5":        crypto.Md5Func,
		"rsadecrypt": crypto.RsaDecryptFunc,
		"sha1":       crypto.Sha1Func,
		"sha256":     crypto.Sha256Func,
		"sha512":     crypto.Sha512Func,

		// UUID.
		"uuidv4": uuid.V4Func,
		"uuidv5": uuid.V5Func,

		// IP network.
		"cidrhost":    cidr.HostFunc,
		"cidrnetmask": cidr.NetmaskFunc,
		"cidrsubnet":  cidr.SubnetFunc,
		"cidrsubnets": cidr.SubnetsFunc,

		// Type conversion.
		"can":      tryfunc.CanFunc,
		"convert":  typeexpr.ConvertFunc,
		"tobool":   stdlib.MakeToFunc(cty.Bool),
		"tolist":   stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap":    stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"tonumber": stdlib.MakeToFunc(cty.Number),
		"toset":    stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring": stdlib.MakeToFunc(cty.String),
		"try":      tryfunc.TryFunc,

		// Contextual: external services. env is not here: Packer allows it
		// only in a variable's default (see the template engine).
		"aws_secretsmanager":     unavailable("aws_secretsmanager", awsSecretsManagerHelp, "name", "key"),
		"aws_secretsmanager_raw": unavailable("aws_secretsmanager_raw", awsSecretsManagerHelp, "name"),
		"consul_key":             unavailable("consul_key", consulHelp, "key"),
		"vault":                  unavailable("vault", vaultHelp, "path", "key"),
	}
}
