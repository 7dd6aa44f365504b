package funcs

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// LengthFunc returns the number of characters in a string or of elements in
// a collection or structure. cty's stdlib length refuses strings, which
// Packer templates pass (length(var.name) > 0).
var LengthFunc = function.New(&function.Spec{
	Description: "Returns the number of characters in a string, or of elements in a list, set, map, tuple or object.",
	Params: []function.Parameter{{
		Name:             "value",
		Type:             cty.DynamicPseudoType,
		AllowDynamicType: true,
		AllowUnknown:     true,
		AllowMarked:      true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty == cty.String, ty == cty.DynamicPseudoType,
			ty.IsListType(), ty.IsSetType(), ty.IsMapType(),
			ty.IsTupleType(), ty.IsObjectType():
			return cty.Number, nil
		}
		return cty.NilType, function.NewArgErrorf(0, "length needs a string or a collection, not %s", ty.FriendlyName())
	},
	RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, marks := args[0].Unmark()
		ty := v.Type()
		switch {
		case ty.IsTupleType():
			return cty.NumberIntVal(int64(ty.Length())).WithMarks(marks), nil
		case ty.IsObjectType():
			return cty.NumberIntVal(int64(len(ty.AttributeTypes()))).WithMarks(marks), nil
		case !v.IsKnown():
			return cty.UnknownVal(cty.Number).WithMarks(marks), nil
		case v.IsNull():
			return cty.NilVal, function.NewArgErrorf(0, "length of a null value is not defined")
		case ty == cty.String:
			n, err := stdlib.Strlen(v)
			return n.WithMarks(marks), err
		}
		return v.Length().WithMarks(marks), nil
	},
})

// IndexFunc finds the position of a value in a list or tuple, as Packer's
// index(list, value) does (cty's stdlib index is element lookup by key).
var IndexFunc = function.New(&function.Spec{
	Description: "Returns the index of the first element of list equal to value.",
	Params: []function.Parameter{
		{Name: "list", Type: cty.DynamicPseudoType},
		{Name: "value", Type: cty.DynamicPseudoType},
	},
	Type: function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		list, value := args[0], args[1]
		ty := list.Type()
		if !(ty.IsListType() || ty.IsTupleType()) {
			return cty.NilVal, function.NewArgErrorf(0, "index needs a list or tuple, not %s", ty.FriendlyName())
		}
		if !list.IsKnown() || !value.IsKnown() {
			return cty.UnknownVal(cty.Number), nil
		}
		if list.LengthInt() == 0 {
			return cty.NilVal, errors.New("cannot search an empty list")
		}
		for it := list.ElementIterator(); it.Next(); {
			i, elem := it.Element()
			eq, err := stdlib.Equal(elem, value)
			if err != nil {
				return cty.NilVal, err
			}
			if !eq.IsKnown() {
				return cty.UnknownVal(cty.Number), nil
			}
			if eq.True() {
				return i, nil
			}
		}
		return cty.NilVal, errors.New("item not found")
	},
})

// SumFunc adds up a list, set or tuple of numbers.
var SumFunc = function.New(&function.Spec{
	Description: "Returns the sum of a list, set or tuple of numbers.",
	Params:      []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type:        function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		list := args[0]
		ty := list.Type()
		if !(ty.IsListType() || ty.IsSetType() || ty.IsTupleType()) {
			return cty.NilVal, function.NewArgErrorf(0, "sum needs a list, set or tuple of numbers, not %s", ty.FriendlyName())
		}
		if !list.IsWhollyKnown() {
			return cty.UnknownVal(cty.Number), nil
		}
		if list.LengthInt() == 0 {
			return cty.NilVal, function.NewArgErrorf(0, "cannot sum an empty list")
		}
		total := new(big.Float)
		for it := list.ElementIterator(); it.Next(); {
			_, elem := it.Element()
			if elem.IsNull() {
				return cty.NilVal, function.NewArgErrorf(0, "cannot sum a list that contains null")
			}
			n, err := convert.Convert(elem, cty.Number)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "sum needs numbers: %s", err)
			}
			total.Add(total, n.AsBigFloat())
		}
		return cty.NumberVal(total), nil
	},
})

// AllTrueFunc is true when every element is true (or "true"); true for an
// empty list.
var AllTrueFunc = function.New(&function.Spec{
	Description: "Returns true if every element of the list is true.",
	Params:      []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:        function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return foldBools(args[0], true)
	},
})

// AnyTrueFunc is true when at least one element is true (or "true"); false
// for an empty list.
var AnyTrueFunc = function.New(&function.Spec{
	Description: "Returns true if any element of the list is true.",
	Params:      []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:        function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return foldBools(args[0], false)
	},
})

// foldBools returns all-true (wantAll) or any-true of list. A null element
// counts as false; an unknown one makes the result unknown unless the
// answer is already decided.
func foldBools(list cty.Value, wantAll bool) (cty.Value, error) {
	if list.IsNull() {
		return cty.NilVal, fmt.Errorf("the list must not be null")
	}
	if !list.IsKnown() {
		return cty.UnknownVal(cty.Bool), nil
	}
	unknown := false
	for it := list.ElementIterator(); it.Next(); {
		_, v := it.Element()
		switch {
		case !v.IsKnown():
			unknown = true
		case v.IsNull() || v.False():
			if wantAll {
				return cty.False, nil
			}
		default:
			if !wantAll {
				return cty.True, nil
			}
		}
	}
	if unknown {
		return cty.UnknownVal(cty.Bool), nil
	}
	return cty.BoolVal(wantAll), nil
}
