package hcldecode

import (
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/sensitive"
)

var (
	ctyValueType = reflect.TypeOf(cty.Value{})
	durationType = reflect.TypeOf(time.Duration(0))
	bodyType     = reflect.TypeOf((*hcl.Body)(nil)).Elem()
)

// assign stores val into dst, converting it to dst's Go type. name and
// rng locate errors.
//
// Sensitive values (a sensitive variable, or anything computed from one)
// become plain Go values here, so their strings are registered with
// internal/secret: every output, log and manifest masks them.
func (d *decoder) assign(dst reflect.Value, val cty.Value, name string, rng hcl.Range) hcl.Diagnostics {
	if dst.Type() == ctyValueType {
		dst.Set(reflect.ValueOf(sensitive.Register(val)))
		return nil
	}
	if val.IsMarked() {
		// Wholly sensitive: whatever it turns into is, a number given to
		// a string option included. Values inside a partly sensitive one
		// are registered one by one as they are assigned.
		val = sensitive.Register(val)
		if val.IsWhollyKnown() {
			defer registerStrings(dst)
		}
	}
	if val.IsNull() {
		return nil // unset, as gohcl does: the field keeps its zero value
	}
	if !val.IsKnown() {
		if !d.opts.AllowUnknown {
			return d.unknown(name, rng)
		}
		if d.opts.UnknownString != "" {
			t := dst.Type()
			if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.String {
				p := reflect.New(t.Elem())
				p.Elem().SetString(d.opts.UnknownString)
				dst.Set(p)
			} else if t.Kind() == reflect.String {
				dst.SetString(d.opts.UnknownString)
			}
		}
		return nil
	}

	t := dst.Type()
	switch {
	case t == durationType:
		dur, err := durationFromValue(val)
		if err != nil {
			return typeError(name, rng, err.Error())
		}
		dst.SetInt(int64(dur))
		return nil
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		diags := d.assign(p.Elem(), val, name, rng)
		if !diags.HasErrors() {
			dst.Set(p)
		}
		return diags
	}

	if d.opts.Weak && val.Type() == cty.String && val.IsKnown() {
		val = weakScalar(val, t.Kind())
	}
	switch t.Kind() {
	case reflect.String:
		v, err := convert.Convert(val, cty.String)
		if err != nil {
			return typeError(name, rng, "a string is required")
		}
		dst.SetString(v.AsString())
	case reflect.Bool:
		v, err := convert.Convert(val, cty.Bool)
		if err != nil {
			return typeError(name, rng, "a bool (true or false) is required")
		}
		dst.SetBool(v.True())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bf, err := number(val)
		if err != nil {
			return typeError(name, rng, "a number is required")
		}
		i, acc := bf.Int64()
		if acc != big.Exact || dst.OverflowInt(i) {
			return typeError(name, rng, "a whole number in range is required")
		}
		dst.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		bf, err := number(val)
		if err != nil {
			return typeError(name, rng, "a number is required")
		}
		u, acc := bf.Uint64()
		if acc != big.Exact || dst.OverflowUint(u) {
			return typeError(name, rng, "a non-negative whole number in range is required")
		}
		dst.SetUint(u)
	case reflect.Float32, reflect.Float64:
		bf, err := number(val)
		if err != nil {
			return typeError(name, rng, "a number is required")
		}
		f, _ := bf.Float64()
		dst.SetFloat(f)
	case reflect.Slice:
		return d.assignSlice(dst, val, name, rng)
	case reflect.Map:
		return d.assignMap(dst, val, name, rng)
	case reflect.Struct:
		return d.assignObject(dst, val, name, rng)
	case reflect.Interface:
		if t.NumMethod() == 0 {
			dst.Set(reflect.ValueOf(goValue(sensitive.Register(val))))
			return nil
		}
		fallthrough
	default:
		return typeError(name, rng, fmt.Sprintf("the plugin cannot take a value of Go type %s here", t))
	}
	return nil
}

func number(val cty.Value) (*big.Float, error) {
	v, err := convert.Convert(val, cty.Number)
	if err != nil {
		return nil, err
	}
	return v.AsBigFloat(), nil
}

func (d *decoder) assignSlice(dst reflect.Value, val cty.Value, name string, rng hcl.Range) hcl.Diagnostics {
	ty := val.Type()
	if !(ty.IsListType() || ty.IsSetType() || ty.IsTupleType()) {
		if !d.opts.Weak || !ty.IsPrimitiveType() || !val.IsKnown() {
			// Packer's options accept a lone value where a list is expected
			// only for strings; be explicit otherwise.
			return typeError(name, rng, "a list is required")
		}
		val = weakList(val)
	}
	out := reflect.MakeSlice(dst.Type(), 0, val.LengthInt())
	var diags hcl.Diagnostics
	for it := val.ElementIterator(); it.Next(); {
		_, ev := it.Element()
		elem := reflect.New(dst.Type().Elem()).Elem()
		diags = append(diags, d.assign(elem, ev, name, rng)...)
		out = reflect.Append(out, elem)
	}
	dst.Set(out)
	return diags
}

func (d *decoder) assignMap(dst reflect.Value, val cty.Value, name string, rng hcl.Range) hcl.Diagnostics {
	ty := val.Type()
	if dst.Type().Key().Kind() != reflect.String || !(ty.IsMapType() || ty.IsObjectType()) {
		return typeError(name, rng, "a map is required")
	}
	out := reflect.MakeMapWithSize(dst.Type(), val.LengthInt())
	var diags hcl.Diagnostics
	vm := val.AsValueMap()
	for _, k := range sortedKeys(vm) {
		elem := reflect.New(dst.Type().Elem()).Elem()
		diags = append(diags, d.assign(elem, vm[k], name+"."+k, rng)...)
		out.SetMapIndex(reflect.ValueOf(k).Convert(dst.Type().Key()), elem)
	}
	dst.Set(out)
	return diags
}

// assignObject decodes an object value into a tagged struct, for options
// given as `name = { ... }` rather than as a block.
func (d *decoder) assignObject(dst reflect.Value, val cty.Value, name string, rng hcl.Range) hcl.Diagnostics {
	ty := val.Type()
	if !(ty.IsMapType() || ty.IsObjectType()) {
		return typeError(name, rng, "an object is required")
	}
	info, err := infoFor(dst.Type())
	if err != nil {
		return typeError(name, rng, err.Error())
	}
	vm := val.AsValueMap()
	known := map[string]bool{}
	var diags hcl.Diagnostics
	for _, f := range append(append([]field(nil), info.attrs...), info.blocks...) {
		known[f.name] = true
		v, ok := vm[f.name]
		if !ok {
			if f.required {
				diags = append(diags, typeError(name, rng, fmt.Sprintf("attribute %q is required", f.name))...)
			}
			continue
		}
		diags = append(diags, d.assign(fieldByIndex(dst, f.index), v, name+"."+f.name, rng)...)
	}
	for _, k := range sortedKeys(vm) {
		if !known[k] {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported argument",
				Detail:   fmt.Sprintf("%q has no attribute named %q.%s", name, k, Suggest(k, info.names)),
				Subject:  rng.Ptr(),
			})
		}
	}
	return diags
}

func typeError(name string, rng hcl.Range, what string) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Incorrect attribute value type",
		Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s.", name, what),
		Subject:  rng.Ptr(),
	}}
}

// durationFromValue reads a Packer duration: a string such as "5m" or
// "1h30s" (a bare number in a string counts as seconds), or a number of
// seconds.
func durationFromValue(val cty.Value) (time.Duration, error) {
	if val.Type() == cty.Number {
		f, _ := val.AsBigFloat().Float64()
		return time.Duration(f * float64(time.Second)), nil
	}
	sv, err := convert.Convert(val, cty.String)
	if err != nil {
		return 0, fmt.Errorf("a duration such as \"5m\" or \"1h30s\" is required")
	}
	return ParseDuration(sv.AsString())
}

// ParseDuration parses a Packer duration string. An empty string is zero;
// a number without a unit is seconds.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; use a number and a unit such as \"30s\", \"5m\" or \"1h30m\"", s)
	}
	return dur, nil
}

// goValue turns a known cty value into plain Go values (string, bool,
// float64/int64, []any, map[string]any), for `any` fields.
func goValue(v cty.Value) any {
	v, _ = v.Unmark()
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return v.AsString()
	case ty == cty.Bool:
		return v.True()
	case ty == cty.Number:
		bf := v.AsBigFloat()
		if i, acc := bf.Int64(); acc == big.Exact {
			return i
		}
		f, _ := bf.Float64()
		return f
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		var out []any
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, goValue(e))
		}
		return out
	case ty.IsMapType() || ty.IsObjectType():
		out := map[string]any{}
		for k, e := range v.AsValueMap() {
			out[k] = goValue(e)
		}
		return out
	}
	return nil
}

// registerStrings registers every string a sensitive value became.
func registerStrings(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		secret.AddSensitive(v.String())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			registerStrings(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			registerStrings(v.Index(i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			registerStrings(it.Value()) // keys name things; they are not secrets
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				registerStrings(v.Field(i))
			}
		}
	}
}

// weakList is a lone value as a list, as Packer's legacy decoding makes
// it: a string split at commas (none for ""), anything else alone.
func weakList(v cty.Value) cty.Value {
	if v.Type() != cty.String {
		return cty.TupleVal([]cty.Value{v})
	}
	if v.AsString() == "" {
		return cty.EmptyTupleVal
	}
	var elems []cty.Value
	for _, part := range strings.Split(v.AsString(), ",") {
		elems = append(elems, cty.StringVal(part))
	}
	return cty.TupleVal(elems)
}

// weakScalar reads a string as Packer's legacy decoding does for a bool
// or number option: "" is false or 0, and "1", "t", "T", "TRUE"... are
// bools as strconv.ParseBool reads them.
func weakScalar(v cty.Value, k reflect.Kind) cty.Value {
	s := v.AsString()
	switch k {
	case reflect.Bool:
		if s == "" {
			return cty.False
		}
		if b, err := strconv.ParseBool(s); err == nil {
			return cty.BoolVal(b)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if s == "" {
			return cty.Zero
		}
	}
	return v
}
