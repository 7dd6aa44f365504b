package template

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// FormatValue renders a value the way `packer console` and `packer
// inspect` show it: strings quoted, lists and objects in HCL syntax,
// values not known yet as <unknown>, sensitive ones (and any computed from
// them) as <sensitive>.
func FormatValue(v cty.Value) string {
	var sb strings.Builder
	formatValue(&sb, v, 0)
	return sb.String()
}

func formatValue(sb *strings.Builder, v cty.Value, indent int) {
	v, marks := v.Unmark()
	if len(marks) > 0 {
		sb.WriteString("<sensitive>")
		return
	}
	if !v.IsKnown() {
		sb.WriteString("<unknown>")
		return
	}
	if v.IsNull() {
		sb.WriteString("null")
		return
	}
	ty := v.Type()
	pad := strings.Repeat("  ", indent+1)
	switch {
	case ty == cty.String:
		sb.WriteString(fmt.Sprintf("%q", v.AsString()))
	case ty == cty.Number:
		sb.WriteString(v.AsBigFloat().Text('f', -1))
	case ty == cty.Bool:
		sb.WriteString(fmt.Sprint(v.True()))
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		if v.LengthInt() == 0 {
			sb.WriteString("[]")
			return
		}
		sb.WriteString("[\n")
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			sb.WriteString(pad)
			formatValue(sb, e, indent+1)
			sb.WriteString(",\n")
		}
		sb.WriteString(strings.Repeat("  ", indent) + "]")
	case ty.IsMapType() || ty.IsObjectType():
		if v.LengthInt() == 0 {
			sb.WriteString("{}")
			return
		}
		m := v.AsValueMap()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sb.WriteString("{\n")
		for _, k := range keys {
			fmt.Fprintf(sb, "%s%q = ", pad, k)
			formatValue(sb, m[k], indent+1)
			sb.WriteString("\n")
		}
		sb.WriteString(strings.Repeat("  ", indent) + "}")
	default:
		sb.WriteString(ty.FriendlyName())
	}
}
