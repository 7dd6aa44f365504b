// Package hcldecode decodes an HCL block into a plugin's configuration
// struct. It follows gohcl's tags (`hcl:"name"`, `hcl:"name,optional"`,
// `hcl:"name,block"`, `hcl:"name,label"`, `hcl:",remain"`) and adds what
// Packer's plugin configurations need: embedded structs are flattened like
// encoding/json does, time.Duration takes Packer duration strings, values
// not known yet (late-bound build.*, unexecuted data sources) can be
// tolerated, and `dynamic` blocks are expanded.
package hcldecode

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

type fieldKind int

const (
	kindAttr fieldKind = iota
	kindBlock
	kindLabel
	kindRemain
)

// field is one decodable struct field; index is the path through
// embedded structs, as reflect.Value.FieldByIndex takes it.
type field struct {
	name     string
	kind     fieldKind
	required bool
	index    []int
	typ      reflect.Type
}

// structInfo is what a struct type decodes as. It is computed once per type.
type structInfo struct {
	attrs  []field
	blocks []field
	labels []field
	remain *field
	schema *hcl.BodySchema
	names  []string // every attribute and block name, for suggestions

	attrPos  map[string]int // attribute name -> its position in attrs
	blockPos map[string]int // block type -> its position in blocks
	allAttrs []int          // 0..len(attrs)-1
	required []int          // positions of the required attributes
}

var infoCache sync.Map // reflect.Type -> *structInfo

func infoFor(t reflect.Type) (*structInfo, error) {
	if v, ok := infoCache.Load(t); ok {
		return v.(*structInfo), nil
	}
	info := &structInfo{}
	seen := map[string]bool{}
	if err := collectFields(t, nil, info, seen); err != nil {
		return nil, err
	}
	schema := &hcl.BodySchema{}
	info.attrPos = make(map[string]int, len(info.attrs))
	info.blockPos = make(map[string]int, len(info.blocks))
	for i, f := range info.attrs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: f.name, Required: f.required})
		info.names = append(info.names, f.name)
		info.attrPos[f.name] = i
		info.allAttrs = append(info.allAttrs, i)
		if f.required {
			info.required = append(info.required, i)
		}
	}
	for i, f := range info.blocks {
		info.blockPos[f.name] = i
		elem := blockElemType(f.typ)
		var labelNames []string
		if elem != nil {
			if sub, err := infoFor(elem); err == nil {
				for _, l := range sub.labels {
					labelNames = append(labelNames, l.name)
				}
			}
		}
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: f.name, LabelNames: labelNames})
		info.names = append(info.names, f.name)
	}
	info.schema = schema
	infoCache.Store(t, info)
	return info, nil
}

// schemaFor returns the part of the schema that body uses, and the
// positions in attrs of its attributes. A plugin accepts many options (a
// docker source about ninety, most of them the communicator's) and a block
// sets a few, but hcl's Content looks up every name of the schema it is
// given, and the decoder every field: with hundreds of blocks that was a
// tenth of validate's plugin decoding. For a native-syntax body whose
// names are all in the schema, the schema of just those names (and the
// required ones) gives the same content and diagnostics; any other body
// gets the whole schema, so that hcl reports unknown names as usual.
func (info *structInfo) schemaFor(body hcl.Body) (*hcl.BodySchema, []int) {
	sb, ok := body.(*hclsyntax.Body)
	if !ok || 2*(len(sb.Attributes)+len(sb.Blocks)) > len(info.attrs)+len(info.blocks) {
		return info.schema, info.allAttrs
	}
	used := make([]int, 0, len(sb.Attributes)+len(info.required))
	for name := range sb.Attributes {
		i, ok := info.attrPos[name]
		if !ok {
			return info.schema, info.allAttrs
		}
		used = append(used, i)
	}
	for _, i := range info.required {
		if _, set := sb.Attributes[info.attrs[i].name]; !set {
			used = append(used, i)
		}
	}
	slices.Sort(used)
	schema := &hcl.BodySchema{Attributes: make([]hcl.AttributeSchema, len(used))}
	for k, i := range used {
		schema.Attributes[k] = info.schema.Attributes[i]
	}
	for _, b := range sb.Blocks {
		i, ok := info.blockPos[b.Type]
		if !ok {
			return info.schema, info.allAttrs
		}
		if !slices.ContainsFunc(schema.Blocks, func(h hcl.BlockHeaderSchema) bool { return h.Type == b.Type }) {
			schema.Blocks = append(schema.Blocks, info.schema.Blocks[i])
		}
	}
	return schema, used
}

// collectFields walks t's fields, descending into embedded structs that
// carry no hcl tag, so that their fields are decoded as the outer struct's.
func collectFields(t reflect.Type, prefix []int, info *structInfo, seen map[string]bool) error {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		idx := append(append([]int(nil), prefix...), i)
		tag, hasTag := sf.Tag.Lookup("hcl")
		if !hasTag {
			if sf.Anonymous {
				et := sf.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					if err := collectFields(et, idx, info, seen); err != nil {
						return err
					}
				}
			}
			continue
		}
		if tag == "-" || !sf.IsExported() {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		f := field{name: name, index: idx, typ: sf.Type}
		switch opt {
		case "", "attr":
			f.kind, f.required = kindAttr, true
		case "optional":
			f.kind = kindAttr
		case "block":
			f.kind = kindBlock
			if blockElemType(sf.Type) == nil {
				return fmt.Errorf("hcldecode: field %s.%s: a block field must be a struct, a pointer to one, or a slice of them", t, sf.Name)
			}
		case "label":
			f.kind = kindLabel
		case "remain":
			f.kind = kindRemain
		default:
			return fmt.Errorf("hcldecode: field %s.%s: unknown tag option %q", t, sf.Name, opt)
		}
		switch f.kind {
		case kindLabel:
			info.labels = append(info.labels, f)
			continue
		case kindRemain:
			ff := f
			info.remain = &ff
			continue
		}
		// An outer field wins over an embedded one of the same name, as in
		// encoding/json; collectFields visits outer fields first only for
		// fields before the embedding, so keep the shallowest.
		if seen[name] {
			replaceIfShallower(info, f)
			continue
		}
		seen[name] = true
		if f.kind == kindAttr {
			info.attrs = append(info.attrs, f)
		} else {
			info.blocks = append(info.blocks, f)
		}
	}
	return nil
}

func replaceIfShallower(info *structInfo, f field) {
	list := &info.attrs
	if f.kind == kindBlock {
		list = &info.blocks
	}
	for i, old := range *list {
		if old.name == f.name && len(f.index) < len(old.index) {
			(*list)[i] = f
		}
	}
}

// blockElemType returns the struct type a block field decodes into, or nil.
func blockElemType(t reflect.Type) reflect.Type {
	switch t.Kind() {
	case reflect.Struct:
		return t
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct {
			return t.Elem()
		}
	case reflect.Slice:
		e := t.Elem()
		if e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		if e.Kind() == reflect.Struct {
			return e
		}
	}
	return nil
}

// fieldByIndex is reflect.Value.FieldByIndex that allocates nil embedded
// pointers on the way.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// Names returns every attribute and block name a configuration struct
// accepts (after flattening), for documentation and suggestions.
func Names(target any) []string {
	t := reflect.TypeOf(target)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	info, err := infoFor(t)
	if err != nil {
		return nil
	}
	return append([]string(nil), info.names...)
}

// Shape describes a configuration struct for writing it as HCL
// (hcl2_upgrade): which options are blocks (with their own shape) and the
// kind of value each attribute takes ("list", "bool", "number", "map",
// "string").
type Shape struct {
	Blocks map[string]*Shape
	Attrs  map[string]string
}

// ShapeOf returns the shape of a configuration struct; nil when target is
// not one.
func ShapeOf(target any) *Shape {
	t := reflect.TypeOf(target)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	return shapeOfType(t, 0)
}

func shapeOfType(t reflect.Type, depth int) *Shape {
	out := &Shape{Blocks: map[string]*Shape{}, Attrs: map[string]string{}}
	info, err := infoFor(t)
	if err != nil || depth > 8 {
		return out
	}
	for _, f := range info.blocks {
		out.Blocks[f.name] = shapeOfType(blockElemType(f.typ), depth+1)
	}
	for _, f := range info.attrs {
		out.Attrs[f.name] = valueKind(f.typ)
	}
	return out
}

func valueKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		return "string"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map:
		return "map"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	}
	return "string"
}
