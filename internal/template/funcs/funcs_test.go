package funcs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"golang.org/x/crypto/bcrypt"
)

// testDir builds the directory the filesystem functions read.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"hello.txt":            "hello\n",
		"scripts/a.sh":         "echo a\n",
		"scripts/b.sh":         "echo b\n",
		"scripts/sub/c.sh":     "echo c\n",
		"scripts/notes.md":     "notes\n",
		"user-data.pkrtpl.hcl": "#!/bin/sh\nhostname ${name}\n%{ for p in packages ~}\ninstall ${upper(p)}\n%{ endfor ~}\n",
		"missing-var.pkrtpl":   "x = ${nothere}\n",
		"recursive.pkrtpl":     "${templatefile(\"hello.txt\", {})}",
		"bad-syntax.pkrtpl":    "${ 1 + }",
		"number.pkrtpl":        "${n * 2}",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// eval evaluates an HCL expression the way a template does: hclsyntax and
// an EvalContext holding Functions(dir) and vars.
func eval(t *testing.T, dir, src string, vars map[string]cty.Value) (cty.Value, hcl.Diagnostics) {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "test.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parsing %s: %s", src, diags.Error())
	}
	return expr.Value(&hcl.EvalContext{Variables: vars, Functions: Functions(dir)})
}

func toJSON(t *testing.T, v cty.Value) string {
	t.Helper()
	b, err := json.Marshal(ctyjson.SimpleJSONValue{Value: v})
	if err != nil {
		t.Fatalf("encoding %#v: %s", v, err)
	}
	return string(b)
}

func fixClock(t *testing.T) {
	t.Helper()
	fixed := time.Date(2024, 3, 7, 14, 5, 9, 0, time.UTC)
	old := now
	now = func() time.Time { return fixed }
	t.Cleanup(func() { now = old })
}

func TestFunctionsEvaluateToPackersResults(t *testing.T) {
	fixClock(t)
	dir := testDir(t)

	tests := []struct {
		name, expr, want string // want is the JSON of the value
	}{
		// Numeric.
		{"abs of a negative number", `abs(-3.5)`, `3.5`},
		{"ceil rounds up", `ceil(4.1)`, `5`},
		{"floor rounds down", `floor(4.9)`, `4`},
		{"log in a base", `log(8, 2)`, `3`},
		{"max of numbers", `max(5, 12, 9)`, `12`},
		{"min of numbers", `min(5, 12, 9)`, `5`},
		{"parseint in base 16", `parseint("ff", 16)`, `255`},
		{"pow raises", `pow(3, 2)`, `9`},
		{"signum of a negative", `signum(-7)`, `-1`},

		// String.
		{"chomp removes trailing newlines", `chomp("hi\n\n")`, `"hi"`},
		{"endswith true", `endswith("hello world", "world")`, `true`},
		{"endswith false", `endswith("hello world", "hello")`, `false`},
		{"format with verbs", `format("%s-%03d", "ami", 7)`, `"ami-007"`},
		{"formatlist over a list", `formatlist("x-%s", ["a", "b"])`, `["x-a","x-b"]`},
		{"indent after the first line", `indent(2, "a\nb")`, `"a\n  b"`},
		{"join with a separator", `join(",", ["a", "b"])`, `"a,b"`},
		{"lower", `lower("HeLLo")`, `"hello"`},
		{"regex returns the match", `regex("[a-z]+", "123abc456")`, `"abc"`},
		{"regexall returns every match", `regexall("[0-9]", "a1b2")`, `["1","2"]`},
		{"regex_replace replaces matches", `regex_replace("a1b2", "[0-9]", "#")`, `"a#b#"`},
		{"replace a substring", `replace("1+2", "+", "-")`, `"1-2"`},
		{"replace treats slashes literally, as Packer does", `replace("a/b/c", "/", "-")`, `"a-b-c"`},
		{"split on a separator", `split(",", "a,b")`, `["a","b"]`},
		{"startswith true", `startswith("hello", "he")`, `true`},
		{"strcontains true", `strcontains("hello world", "o w")`, `true`},
		{"strcontains false", `strcontains("hello", "z")`, `false`},
		{"strrev reverses characters", `strrev("abc")`, `"cba"`},
		{"substr extracts", `substr("hello world", 1, 4)`, `"ello"`},
		{"title capitalises words", `title("hello world")`, `"Hello World"`},
		{"trim removes the cutset", `trim("?!hello?!", "!?")`, `"hello"`},
		{"trimprefix", `trimprefix("helloworld", "hello")`, `"world"`},
		{"trimspace", `trimspace("  hi \n")`, `"hi"`},
		{"trimsuffix", `trimsuffix("helloworld", "world")`, `"hello"`},
		{"upper", `upper("hi")`, `"HI"`},

		// Collection.
		{"alltrue with strings and bools", `alltrue(["true", true])`, `true`},
		{"alltrue with a false", `alltrue([true, false])`, `false`},
		{"alltrue of an empty list", `alltrue([])`, `true`},
		{"anytrue with one true", `anytrue([false, "true"])`, `true`},
		{"anytrue of an empty list", `anytrue([])`, `false`},
		{"chunklist splits", `chunklist(["a", "b", "c"], 2)`, `[["a","b"],["c"]]`},
		{"coalesce skips null and empty", `coalesce(null, "", "b")`, `"b"`},
		{"coalescelist skips empty lists", `coalescelist([], ["x"])`, `["x"]`},
		{"compact drops empty strings", `compact(["a", "", "b"])`, `["a","b"]`},
		{"concat joins lists", `concat(["a"], ["b", "c"])`, `["a","b","c"]`},
		{"contains finds a value", `contains(["a", "b"], "b")`, `true`},
		{"distinct drops duplicates", `distinct(["a", "b", "a"])`, `["a","b"]`},
		{"element wraps around", `element(["a", "b"], 3)`, `"b"`},
		{"flatten nested lists", `flatten([["a"], [["b"]], []])`, `["a","b"]`},
		{"index finds the position", `index(["a", "b", "c"], "b")`, `1`},
		{"keys are sorted", `keys({b = 1, a = 2})`, `["a","b"]`},
		{"length of a list", `length(["a", "b"])`, `2`},
		{"length of a string counts characters", `length("héllo")`, `5`},
		{"length of an object", `length({a = 1, b = 2, c = 3})`, `3`},
		{"length of a map", `length(tomap({a = 1}))`, `1`},
		{"lookup with a default", `lookup({a = "x"}, "b", "d")`, `"d"`},
		{"merge maps", `merge({a = 1}, {b = 2})`, `{"a":1,"b":2}`},
		{"range with a step", `range(1, 7, 2)`, `[1,3,5]`},
		{"reverse a list", `reverse(["a", "b", "c"])`, `["c","b","a"]`},
		{"setintersection", `setintersection(["a", "b"], ["b", "c"])`, `["b"]`},
		{"setproduct", `setproduct(["a"], ["x", "y"])`, `[["a","x"],["a","y"]]`},
		{"setunion", `setunion(["a"], ["b"])`, `["a","b"]`},
		{"slice a list", `slice(["a", "b", "c", "d"], 1, 3)`, `["b","c"]`},
		{"sort strings", `sort(["c", "a", "b"])`, `["a","b","c"]`},
		{"sum of numbers", `sum([10, 13, 6, 4.5])`, `33.5`},
		{"values in key order", `values({b = "2", a = "1"})`, `["1","2"]`},
		{"zipmap pairs keys and values", `zipmap(["a", "b"], [1, 2])`, `{"a":1,"b":2}`},

		// Encoding.
		{"base64decode", `base64decode("aGVsbG8=")`, `"hello"`},
		{"base64encode", `base64encode("hello")`, `"aGVsbG8="`},
		{"csvdecode", "csvdecode(\"a,b\\n1,2\\n\")", `[{"a":"1","b":"2"}]`},
		{"jsondecode", `jsondecode("{\"a\": [1, true]}")`, `{"a":[1,true]}`},
		{"jsonencode", `jsonencode({a = [1, "x"]})`, `"{\"a\":[1,\"x\"]}"`},
		{"textencodebase64 in UTF-16LE", `textencodebase64("Hello World", "UTF-16LE")`, `"SABlAGwAbABvACAAVwBvAHIAbABkAA=="`},
		{"textdecodebase64 from UTF-16LE", `textdecodebase64("SABlAGwAbABvACAAVwBvAHIAbABkAA==", "UTF-16LE")`, `"Hello World"`},
		{"urlencode", `urlencode("a b&c")`, `"a+b%26c"`},
		{"yamldecode", `yamldecode("a: 1\nb: [x, z]\n")`, `{"a":1,"b":["x","z"]}`},
		{"yamlencode", `yamlencode({a = "b"})`, `"\"a\": \"b\"\n"`},

		// Filesystem.
		{"abspath of an absolute path", `abspath("/a/b/../c")`, `"/a/c"`},
		{"basename", `basename("/a/b/c.txt")`, `"c.txt"`},
		{"dirname", `dirname("/a/b/c.txt")`, `"/a/b"`},
		{"file reads relative to the base directory", `file("hello.txt")`, `"hello\n"`},
		{"filebase64 reads and encodes", `filebase64("hello.txt")`, `"aGVsbG8K"`},
		{"fileexists true", `fileexists("hello.txt")`, `true`},
		{"fileexists false", `fileexists("nope.txt")`, `false`},
		{"fileset matches a glob", `fileset("scripts", "*.sh")`, `["a.sh","b.sh"]`},
		{"fileset matches recursively", `fileset(".", "scripts/**/*.sh")`, `["scripts/a.sh","scripts/b.sh","scripts/sub/c.sh"]`},
		{"pathexpand leaves plain paths", `pathexpand("/etc/hosts")`, `"/etc/hosts"`},
		{"templatefile renders with vars and functions", `templatefile("user-data.pkrtpl.hcl", {name = "web", packages = ["vim", "git"]})`, `"#!/bin/sh\nhostname web\ninstall VIM\ninstall GIT\n"`},
		{"templatefile of a single interpolation keeps its type", `templatefile("number.pkrtpl", {n = 21})`, `42`},

		// Date and time.
		{"formatdate", `formatdate("YYYY-MM-DD hh:mm", "2024-02-03T04:05:06Z")`, `"2024-02-03 04:05"`},
		{"legacy_isotime uses a Go layout", `legacy_isotime("2006-01-02T15:04")`, `"2024-03-07T14:05"`},
		{"legacy_strftime uses strftime directives", `legacy_strftime("%Y-%m-%d %H:%M:%S %j %a %b %%")`, `"2024-03-07 14:05:09 067 Thu Mar %"`},
		{"timeadd adds a duration", `timeadd("2024-01-01T00:00:00Z", "90m")`, `"2024-01-01T01:30:00Z"`},
		{"timestamp is RFC 3339 UTC", `timestamp()`, `"2024-03-07T14:05:09Z"`},

		// Hash and crypto (bcrypt and rsadecrypt are checked separately).
		{"md5", `md5("hello")`, `"5d41402abc4b2a76b9719d911017c592"`},
		{"sha1", `sha1("hello")`, `"aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"`},
		{"sha256", `sha256("hello")`, `"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"`},
		{"sha512 has 128 hex digits", `length(sha512("hello"))`, `128`},

		// IP network.
		{"cidrhost", `cidrhost("10.12.112.0/20", 16)`, `"10.12.112.16"`},
		{"cidrnetmask", `cidrnetmask("172.16.0.0/12")`, `"255.240.0.0"`},
		{"cidrsubnet", `cidrsubnet("10.0.0.0/8", 8, 2)`, `"10.2.0.0/16"`},
		{"cidrsubnets", `cidrsubnets("10.0.0.0/8", 8, 8)`, `["10.0.0.0/16","10.1.0.0/16"]`},

		// Type conversion.
		{"can of a valid expression", `can(tonumber("1"))`, `true`},
		{"can of a failing expression", `can(tonumber("x"))`, `false`},
		{"convert to a type", `convert("5", number)`, `5`},
		{"convert to a list of strings", `convert([1, 2], list(string))`, `["1","2"]`},
		{"tobool from a string", `tobool("true")`, `true`},
		{"tolist from a tuple", `tolist(["a", "b"])`, `["a","b"]`},
		{"tomap from an object", `tomap({a = "x"})`, `{"a":"x"}`},
		{"tonumber from a string", `tonumber("42")`, `42`},
		{"toset drops duplicates", `toset(["a", "a"])`, `["a"]`},
		{"tostring from a number", `tostring(5)`, `"5"`},
		{"try falls back", `try(tonumber("x"), 7)`, `7`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, diags := eval(t, dir, tc.expr, nil)
			if diags.HasErrors() {
				t.Fatalf("%s: %s", tc.expr, diags.Error())
			}
			if g := toJSON(t, got); g != tc.want {
				t.Errorf("%s = %s, want %s", tc.expr, g, tc.want)
			}
		})
	}
}

func TestGeneratedValuesHaveTheirFormat(t *testing.T) {
	dir := testDir(t)
	tests := []struct {
		name, expr string
		check      func(string) bool
	}{
		{"uuidv4 is a random UUID", `uuidv4()`, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString},
		{"uuidv5 is the name-based UUID", `uuidv5("dns", "example.com")`, func(s string) bool {
			return s == uuid.NewSHA1(uuid.NameSpaceDNS, []byte("example.com")).String()
		}},
		{"bcrypt hashes so that the password verifies", `bcrypt("s3cret")`, func(s string) bool {
			return bcrypt.CompareHashAndPassword([]byte(s), []byte("s3cret")) == nil
		}},
		{"bcrypt takes a cost", `bcrypt("s3cret", 5)`, func(s string) bool { return strings.HasPrefix(s, "$2a$05$") }},
		{"base64gzip is gzip data in Base64", `base64gzip("hello")`, func(s string) bool {
			b, err := base64.StdEncoding.DecodeString(s)
			return err == nil && len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, diags := eval(t, dir, tc.expr, nil)
			if diags.HasErrors() {
				t.Fatalf("%s: %s", tc.expr, diags.Error())
			}
			if !tc.check(got.AsString()) {
				t.Errorf("%s = %q has the wrong form", tc.expr, got.AsString())
			}
		})
	}
}

func TestRSADecryptDecryptsWithThePrivateKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, &key.PublicKey, []byte("admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	vars := map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
		"ct":  cty.StringVal(base64.StdEncoding.EncodeToString(ct)),
		"key": cty.StringVal(string(keyPEM)),
	})}
	got, diags := eval(t, t.TempDir(), `rsadecrypt(var.ct, var.key)`, vars)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if got.AsString() != "admin-password" {
		t.Errorf("rsadecrypt = %q, want admin-password", got.AsString())
	}
}

func TestFunctionErrorsAreDiagnostics(t *testing.T) {
	dir := testDir(t)
	tests := []struct {
		name, expr, wantErr string
	}{
		{"abs of a string", `abs("x")`, "a number is required"},
		{"upper of a list", `upper(["a"])`, "string required"},
		{"index of a missing item", `index(["a"], "z")`, "item not found"},
		{"index of a map", `index({a = 1}, 1)`, "index needs a list or tuple"},
		{"length of a number", `length(5)`, "length needs a string or a collection"},
		{"sum of an empty list", `sum([])`, "cannot sum an empty list"},
		{"sum of strings that are not numbers", `sum(["a"])`, "sum needs numbers"},
		{"sum of a string", `sum("a")`, "sum needs a list"},
		{"alltrue of a non-bool", `alltrue(["maybe"])`, "a bool is required"},
		{"startswith of a list", `startswith(["a"], "a")`, "string required"},
		{"textencodebase64 with an unknown encoding", `textencodebase64("a", "NOPE-42")`, "not a supported character encoding"},
		{"textdecodebase64 of bad Base64", `textdecodebase64("!!", "UTF-8")`, "not valid Base64"},
		{"file that does not exist", `file("nope.txt")`, "no file exists"},
		{"templatefile with a missing var", `templatefile("missing-var.pkrtpl", {})`, `vars map does not contain key "nothere"`},
		{"templatefile with vars that are not a map", `templatefile("missing-var.pkrtpl", "x")`, "vars must be a map or an object"},
		{"templatefile may not recurse", `templatefile("recursive.pkrtpl", {})`, "cannot call templatefile from inside a template"},
		{"templatefile of a missing file", `templatefile("nope.pkrtpl", {})`, "does not exist"},
		{"templatefile with a syntax error", `templatefile("bad-syntax.pkrtpl", {})`, "parsing template file"},
		{"templatefile with a bad variable name", `templatefile("number.pkrtpl", {"1n" = 1})`, "invalid template variable name"},
		{"templatefile of a device", `templatefile("/dev/zero", {})`, "/dev/zero is a character device, not a regular file"},
		{"cidrhost of a bad prefix", `cidrhost("not-a-cidr", 1)`, "invalid CIDR"},
		{"tonumber of a word", `tonumber("x")`, "cannot convert"},
		{"convert to a bad type", `convert("x", number)`, "a number is required"},
		{"jsondecode of bad JSON", `jsondecode("{")`, "Call to function"},
		{"yamldecode of bad YAML", `yamldecode("a: [")`, "Call to function"},
		{"bcrypt with a cost too high", `bcrypt("x", 99)`, "Call to function"},
		{"rsadecrypt with a bad key", `rsadecrypt("aGVsbG8=", "not a key")`, "Call to function"},
		{"aws_secretsmanager is not available", `aws_secretsmanager("name", "key")`, "aws_secretsmanager: reading AWS Secrets Manager is not available in this build of imgbuild"},
		{"aws_secretsmanager_raw is not available", `aws_secretsmanager_raw("name")`, "aws_secretsmanager_raw: reading AWS Secrets Manager is not available"},
		{"vault is not available", `vault("/secret/data/hello", "foo")`, "vault: reading HashiCorp Vault is not available"},
		{"aws_secretsmanager with a null key still explains", `aws_secretsmanager("name", null)`, "PKR_VAR_"},
		{"unknown function", `nosuchfunc()`, "Call to unknown function"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := eval(t, dir, tc.expr, nil)
			if !diags.HasErrors() {
				t.Fatalf("%s: no error, want %q", tc.expr, tc.wantErr)
			}
			if !strings.Contains(diags.Error(), tc.wantErr) {
				t.Errorf("%s: error %q does not contain %q", tc.expr, diags.Error(), tc.wantErr)
			}
		})
	}
}

// TestNoFunctionPanicsOnOddArguments calls every function with argument
// lists of the wrong number and type, null and unknown values: each must
// give a value or a diagnostic, never a panic (cty turns a panic in a
// function into an error naming it, which this test looks for).
func TestNoFunctionPanicsOnOddArguments(t *testing.T) {
	dir := testDir(t)
	argLists := []string{
		"", `"x"`, `1`, `-1`, `null`, `true`, `[]`, `{}`, `["a", 1]`, `{a = "b"}`,
		`var.unknown`, `var.unknown, var.unknown`, `"x", "y"`, `1, 2`, `null, null`,
		`"x", 1, 2`, `[1], [2]`, `"/", "*"`, `var.unknown, 1, 2`,
	}
	vars := map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
		"unknown": cty.DynamicVal,
	})}
	for name := range Functions(dir) {
		for _, args := range argLists {
			expr := name + "(" + args + ")"
			_, diags := eval(t, dir, expr, vars)
			if strings.Contains(diags.Error(), "panic in function implementation") {
				t.Errorf("%s panicked: %s", expr, diags.Error())
			}
		}
	}
}

func TestUnknownArgumentsGiveUnknownResults(t *testing.T) {
	vars := map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
		"s": cty.UnknownVal(cty.String),
		"l": cty.UnknownVal(cty.List(cty.String)),
		"m": cty.UnknownVal(cty.Map(cty.String)),
	})}
	for _, expr := range []string{
		`length(var.s)`, `length(var.l)`, `index(var.l, "a")`, `sum(var.l)`,
		`startswith(var.s, "a")`, `templatefile("x", var.m)`, `templatefile(var.s, {})`, `upper(var.s)`,
	} {
		got, diags := eval(t, t.TempDir(), expr, vars)
		if diags.HasErrors() {
			t.Errorf("%s: %s", expr, diags.Error())
			continue
		}
		if got.IsKnown() {
			t.Errorf("%s = %#v, want an unknown value", expr, got)
		}
	}
}

func TestLengthOfAnUnknownTupleIsKnown(t *testing.T) {
	vars := map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
		"t": cty.UnknownVal(cty.Tuple([]cty.Type{cty.String, cty.Number})),
	})}
	got, diags := eval(t, t.TempDir(), `length(var.t)`, vars)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if !got.RawEquals(cty.NumberIntVal(2)) {
		t.Errorf("length = %#v, want 2", got)
	}
}

// packerDocumentedFunctions lists every function in Packer's HCL2 function
// reference, plus the type conversion functions HCL templates rely on.
var packerDocumentedFunctions = []string{
	// Numeric.
	"abs", "ceil", "floor", "log", "max", "min", "parseint", "pow", "signum",
	// String.
	"chomp", "endswith", "format", "formatlist", "indent", "join", "lower",
	"regex", "regex_replace", "regexall", "replace", "split", "startswith",
	"strcontains", "strrev", "substr", "title", "trim", "trimprefix",
	"trimspace", "trimsuffix", "upper",
	// Collection.
	"alltrue", "anytrue", "chunklist", "coalesce", "coalescelist", "compact",
	"concat", "contains", "distinct", "element", "flatten", "index", "keys",
	"length", "lookup", "merge", "range", "reverse", "setintersection",
	"setproduct", "setunion", "slice", "sort", "sum", "values", "zipmap",
	// Encoding.
	"base64decode", "base64encode", "base64gzip", "csvdecode", "jsondecode",
	"jsonencode", "textdecodebase64", "textencodebase64", "urlencode",
	"yamldecode", "yamlencode",
	// Filesystem.
	"abspath", "basename", "dirname", "file", "filebase64", "fileexists",
	"fileset", "pathexpand", "templatefile",
	// Date and time.
	"formatdate", "legacy_isotime", "legacy_strftime", "timeadd", "timestamp",
	// Hash and crypto.
	"bcrypt", "md5", "rsadecrypt", "sha1", "sha256", "sha512",
	// UUID.
	"uuidv4", "uuidv5",
	// IP network.
	"cidrhost", "cidrnetmask", "cidrsubnet", "cidrsubnets",
	// Type conversion.
	"can", "convert", "try", "tobool", "tolist", "tomap", "tonumber", "toset", "tostring",
	// Contextual.
	"aws_secretsmanager", "aws_secretsmanager_raw", "consul_key", "env", "vault",
}

// Every documented function is in Functions, except env: Packer has it
// only in variable defaults, where the template engine adds EnvFunc.
func TestEveryPackerFunctionIsPresent(t *testing.T) {
	fns := Functions(t.TempDir())
	if _, ok := fns["env"]; ok {
		t.Error("env is in Functions; Packer allows it only in variable defaults")
	}
	fns["env"] = EnvFunc
	var missing []string
	for _, name := range packerDocumentedFunctions {
		if _, ok := fns[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("missing functions: %s", strings.Join(missing, ", "))
	}
}

func TestEnvFuncReadsTheEnvironmentAndIsEmptyWhenUnset(t *testing.T) {
	t.Setenv("IMGBUILD_FUNCS_TEST", "from-env")
	for name, want := range map[string]string{"IMGBUILD_FUNCS_TEST": "from-env", "IMGBUILD_FUNCS_TEST_UNSET": ""} {
		got, err := EnvFunc.Call([]cty.Value{cty.StringVal(name)})
		if err != nil || got.AsString() != want {
			t.Errorf("env(%q) = %#v, %v; want %q", name, got, err, want)
		}
	}
}
