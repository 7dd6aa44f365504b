package funcs

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
)

// Base64GzipFunc gzips a string's UTF-8 bytes and Base64-encodes the result.
var Base64GzipFunc = function.New(&function.Spec{
	Description: "Compresses a string with gzip and encodes the result in Base64.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write([]byte(args[0].AsString())); err != nil {
			return cty.NilVal, fmt.Errorf("compressing: %w", err)
		}
		if err := zw.Close(); err != nil {
			return cty.NilVal, fmt.Errorf("compressing: %w", err)
		}
		return cty.StringVal(base64.StdEncoding.EncodeToString(buf.Bytes())), nil
	},
})

// TextEncodeBase64Func encodes a string in a named character encoding
// (UTF-16LE, ISO-8859-1, ...) and Base64-encodes the bytes.
var TextEncodeBase64Func = function.New(&function.Spec{
	Description: "Encodes a string in the named character encoding and returns the bytes in Base64.",
	Params: []function.Parameter{
		{Name: "string", Type: cty.String},
		{Name: "encoding_name", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		enc, err := namedEncoding(args[1].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgError(1, err)
		}
		out, err := enc.NewEncoder().Bytes([]byte(args[0].AsString()))
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "the string cannot be encoded in %s: %s", args[1].AsString(), err)
		}
		return cty.StringVal(base64.StdEncoding.EncodeToString(out)), nil
	},
})

// TextDecodeBase64Func decodes Base64 bytes in a named character encoding
// into a string.
var TextDecodeBase64Func = function.New(&function.Spec{
	Description: "Decodes Base64 bytes written in the named character encoding into a string.",
	Params: []function.Parameter{
		{Name: "source", Type: cty.String},
		{Name: "encoding_name", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		enc, err := namedEncoding(args[1].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgError(1, err)
		}
		raw, err := base64.StdEncoding.DecodeString(args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "the source is not valid Base64: %s", err)
		}
		out, err := enc.NewDecoder().Bytes(raw)
		if err != nil || !utf8.Valid(out) {
			return cty.NilVal, function.NewArgErrorf(0, "the source is not valid %s text", args[1].AsString())
		}
		return cty.StringVal(string(out)), nil
	},
})

func namedEncoding(name string) (encoding.Encoding, error) {
	enc, err := ianaindex.IANA.Encoding(name)
	if err != nil || enc == nil {
		return nil, fmt.Errorf("%q is not a supported character encoding; use a name from the IANA registry such as UTF-16LE or ISO-8859-1", name)
	}
	return enc, nil
}
