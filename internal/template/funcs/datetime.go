package funcs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// now is the clock the date functions read; tests replace it.
var now = time.Now

// TimestampFunc returns the current UTC time in RFC 3339 format.
var TimestampFunc = function.New(&function.Spec{
	Description: "Returns the current UTC date and time as an RFC 3339 string.",
	Params:      []function.Parameter{},
	Type:        function.StaticReturnType(cty.String),
	Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
		return cty.StringVal(now().UTC().Format(time.RFC3339)), nil
	},
})

// LegacyIsotimeFunc formats the current UTC time with a Go layout
// ("2006-01-02"), like the isotime function of Packer's JSON templates.
var LegacyIsotimeFunc = function.New(&function.Spec{
	Description: "Returns the current UTC date and time formatted with a Go time layout.",
	Params:      []function.Parameter{{Name: "format", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(now().UTC().Format(args[0].AsString())), nil
	},
})

// LegacyStrftimeFunc formats the current UTC time with a C strftime format
// ("%Y-%m-%d"), like the strftime function of Packer's JSON templates.
var LegacyStrftimeFunc = function.New(&function.Spec{
	Description: "Returns the current UTC date and time formatted with a strftime format.",
	Params:      []function.Parameter{{Name: "format", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(strftime(args[0].AsString(), now().UTC())), nil
	},
})

// strftime formats t with C strftime directives. Unknown directives are
// copied unchanged, as the JSON templates' strftime did.
func strftime(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		d := format[i]
		if s, ok := strftimeDirective(d, t); ok {
			b.WriteString(s)
		} else {
			b.WriteByte('%')
			b.WriteByte(d)
		}
	}
	return b.String()
}

func strftimeDirective(d byte, t time.Time) (string, bool) {
	switch d {
	case 'a':
		return t.Format("Mon"), true
	case 'A':
		return t.Format("Monday"), true
	case 'b', 'h':
		return t.Format("Jan"), true
	case 'B':
		return t.Format("January"), true
	case 'c':
		return t.Format("Mon Jan  2 15:04:05 2006"), true
	case 'C':
		return fmt.Sprintf("%02d", t.Year()/100), true
	case 'd':
		return t.Format("02"), true
	case 'D':
		return t.Format("01/02/06"), true
	case 'e':
		return t.Format("_2"), true
	case 'F':
		return t.Format("2006-01-02"), true
	case 'H':
		return t.Format("15"), true
	case 'I':
		return t.Format("03"), true
	case 'j':
		return fmt.Sprintf("%03d", t.YearDay()), true
	case 'k':
		return fmt.Sprintf("%2d", t.Hour()), true
	case 'l':
		return t.Format("_3"), true
	case 'L':
		return fmt.Sprintf("%03d", t.Nanosecond()/int(time.Millisecond)), true
	case 'm':
		return t.Format("01"), true
	case 'M':
		return t.Format("04"), true
	case 'n':
		return "\n", true
	case 'p':
		return t.Format("PM"), true
	case 'r':
		return t.Format("03:04:05 PM"), true
	case 'R':
		return t.Format("15:04"), true
	case 's':
		return strconv.FormatInt(t.Unix(), 10), true
	case 'S':
		return t.Format("05"), true
	case 't':
		return "\t", true
	case 'T':
		return t.Format("15:04:05"), true
	case 'u':
		wd := int(t.Weekday())
		if wd == 0 {
			wd = 7
		}
		return strconv.Itoa(wd), true
	case 'w':
		return strconv.Itoa(int(t.Weekday())), true
	case 'y':
		return t.Format("06"), true
	case 'Y':
		return t.Format("2006"), true
	case 'z':
		return t.Format("-0700"), true
	case 'Z':
		return t.Format("MST"), true
	case '%':
		return "%", true
	}
	return "", false
}
