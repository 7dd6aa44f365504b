package legacy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template/parse"
)

// context says where a string of a legacy template is, which decides the
// functions it may call: env only in a variable's default, as in Packer.
type context int

const (
	inVariable context = iota
	inComponent
)

// goFuncs are the functions of Packer's legacy template engine. A name
// outside this list is an error at parse time, as in Packer.
var goFuncs = func() map[string]any {
	m := map[string]any{}
	for _, name := range []string{
		"user", "env", "timestamp", "isotime", "uuid", "build_name", "build_type", "template_dir", "pwd", "split", "replace", "replace_all", "lower", "upper", "clean_resource_name", "packer_version", "consul_key", "vault", "aws_secretsmanager", "sed", "build", "clean_ami_name",
	} {
		m[name] = struct{}{} // parse only asks whether a name is defined
	}
	return m
}()

// tmplContext is what translating a string needs: the declared
// variables, by their legacy name, with their HCL2 names.
type tmplContext struct {
	vars map[string]string
	// locals names the variables an upgrade turns into locals (their
	// defaults compute values HCL2 variables cannot): {{user `x`}} is
	// then local.x.
	locals map[string]bool
}

// translate turns a string of a legacy template, with its {{ ... }}
// interpolations, into an HCL template string: {{user `x`}} is ${var.x},
// {{timestamp}} ${local.timestamp}, and so on. Interpolations of
// per-field contexts ({{ .HTTPIP }} in boot_command, {{ .Path }} in
// execute_command) are kept as they are: the components evaluate them
// when they run, as they do in HCL2 templates.
func (tc *tmplContext) translate(s string, ctx context) (string, error) {
	if !strings.Contains(s, "{{") {
		return escapeHCL(s), nil
	}
	trees, err := parse.Parse("value", s, "{{", "}}", goFuncs)
	if err != nil {
		return "", fmt.Errorf("invalid template %q: %s", s, strings.TrimPrefix(err.Error(), "template: value:1: "))
	}
	var b strings.Builder
	for _, n := range trees["value"].Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			b.WriteString(escapeHCL(string(n.Text)))
		case *parse.ActionNode:
			if keepsContext(n.Pipe) {
				b.WriteString(escapeHCL(n.String()))
				continue
			}
			expr, err := tc.pipeExpr(n.Pipe, ctx)
			if err != nil {
				return "", fmt.Errorf("in %q: %w", s, err)
			}
			b.WriteString("${" + expr + "}")
		default:
			return "", fmt.Errorf("in %q: %s is not supported in Packer templates", s, n.String())
		}
	}
	return b.String(), nil
}

// keepsContext reports whether the action reads the per-field context
// ({{ .HTTPIP }}, {{ .Vars }}) or a function only a component knows.
func keepsContext(p *parse.PipeNode) bool {
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			switch a.(type) {
			case *parse.FieldNode, *parse.DotNode, *parse.ChainNode, *parse.VariableNode:
				return true
			}
		}
	}
	return false
}

// errNoHCL2Equivalent marks a valid legacy construct that HCL2 cannot
// express: hcl2_upgrade keeps the text and leaves a TODO comment on it.
var errNoHCL2Equivalent = errors.New("it has no HCL2 equivalent")

// escapeHCL escapes what HCL would read as its own template syntax.
func escapeHCL(s string) string {
	s = strings.ReplaceAll(s, "${", "$${")
	return strings.ReplaceAll(s, "%{", "%%{")
}

// pipeExpr translates a pipeline: each command's result is the last
// argument of the next one.
func (tc *tmplContext) pipeExpr(p *parse.PipeNode, ctx context) (string, error) {
	if len(p.Decl) > 0 {
		return "", fmt.Errorf("variables in templates are not supported")
	}
	prev := ""
	for i, c := range p.Cmds {
		expr, err := tc.commandExpr(c, ctx, prev, i > 0)
		if err != nil {
			return "", err
		}
		prev = expr
	}
	return prev, nil
}

func (tc *tmplContext) commandExpr(c *parse.CommandNode, ctx context, piped string, hasPiped bool) (string, error) {
	if len(c.Args) == 0 {
		return "", fmt.Errorf("empty command")
	}
	id, ok := c.Args[0].(*parse.IdentifierNode)
	if !ok {
		if len(c.Args) == 1 && !hasPiped {
			return tc.argExpr(c.Args[0])
		}
		return "", fmt.Errorf("%s is not a function", c.Args[0])
	}
	var args []string
	for _, a := range c.Args[1:] {
		e, err := tc.argExpr(a)
		if err != nil {
			return "", err
		}
		args = append(args, e)
	}
	if hasPiped {
		args = append(args, piped)
	}
	want := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %d argument(s), not %d", id.Ident, n, len(args))
		}
		return nil
	}
	switch id.Ident {
	case "user":
		if err := want(1); err != nil {
			return "", err
		}
		name, err := strconv.Unquote(args[0])
		if err != nil {
			return "", fmt.Errorf("user takes a variable's name, not %s", args[0])
		}
		hclName, declared := tc.vars[name]
		if !declared {
			// Packer gives an undeclared variable the empty string.
			return `""`, nil
		}
		if tc.locals[name] {
			return "local." + hclName, nil
		}
		return "var." + hclName, nil
	case "build":
		// Values the builder knows once its machine runs (build.ID, ...).
		if err := want(1); err != nil {
			return "", err
		}
		key, err := strconv.Unquote(args[0])
		if err != nil || !validName(key) {
			return "", fmt.Errorf("build takes a name such as \"ID\", not %s", args[0])
		}
		return "build." + key, nil
	case "env":
		if ctx != inVariable {
			return "", fmt.Errorf("env can only be used in a variable's default; declare a variable with a default of {{env `NAME`}} and use {{user `name`}}")
		}
		if err := want(1); err != nil {
			return "", err
		}
		return "env(" + args[0] + ")", nil
	case "timestamp":
		return "local.timestamp", want(0)
	case "isotime":
		if len(args) == 0 {
			return `legacy_isotime("2006-01-02T15:04:05Z07:00")`, nil
		}
		return "legacy_isotime(" + args[0] + ")", want(1)
	case "uuid":
		return "uuidv4()", want(0)
	case "build_name":
		return "source.name", want(0)
	case "build_type":
		return "source.type", want(0)
	case "template_dir":
		return "abspath(path.root)", want(0) // legacy template_dir is absolute
	case "pwd":
		return "path.cwd", want(0)
	case "packer_version":
		return "packer.version", want(0)
	case "lower", "upper":
		return id.Ident + "(" + strings.Join(args, ", ") + ")", want(1)
	case "clean_resource_name":
		// Packer's: lower case, and every character outside [a-z0-9-_] a dash.
		if err := want(1); err != nil {
			return "", err
		}
		return `regex_replace(lower(` + args[0] + `), "[^-a-z0-9_]", "-")`, nil
	case "clean_ami_name":
		// The amazon builders' older name for it: characters an AMI name
		// may not hold become "-".
		if err := want(1); err != nil {
			return "", err
		}
		return `regex_replace(` + args[0] + `, "[^a-zA-Z0-9()\\[\\] ./\\-'@_]", "-")`, nil
	case "split":
		// split STRING SEP INDEX
		if err := want(3); err != nil {
			return "", err
		}
		return "element(split(" + args[1] + ", " + args[0] + "), " + args[2] + ")", nil
	case "replace_all":
		// replace_all OLD NEW STRING
		if err := want(3); err != nil {
			return "", err
		}
		return "replace(" + args[2] + ", " + args[0] + ", " + args[1] + ")", nil
	case "replace":
		// replace OLD NEW N STRING; HCL replaces every occurrence.
		if err := want(4); err != nil {
			return "", err
		}
		if args[2] != "-1" {
			return "", fmt.Errorf("replace with a count other than -1: %w (HCL2's replace() replaces every occurrence)", errNoHCL2Equivalent)
		}
		return "replace(" + args[3] + ", " + args[0] + ", " + args[1] + ")", nil
	case "aws_secretsmanager":
		if len(args) == 1 {
			return "aws_secretsmanager_raw(" + args[0] + ")", nil
		}
		return "aws_secretsmanager(" + strings.Join(args, ", ") + ")", want(2)
	case "consul_key":
		return "consul_key(" + strings.Join(args, ", ") + ")", want(1)
	case "vault":
		return "vault(" + strings.Join(args, ", ") + ")", want(2)
	}
	return "", fmt.Errorf("function %q is not supported", id.Ident)
}

func (tc *tmplContext) argExpr(a parse.Node) (string, error) {
	switch a := a.(type) {
	case *parse.StringNode:
		return strconv.Quote(a.Text), nil
	case *parse.NumberNode:
		return a.Text, nil
	case *parse.BoolNode:
		return strconv.FormatBool(a.True), nil
	case *parse.PipeNode:
		return tc.pipeExpr(a, inComponent)
	}
	return "", fmt.Errorf("%s cannot be an argument here", a)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
