package legacy

import (
	"fmt"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/google/uuid"
)

// variableDefault evaluates a variable's default as Packer does, once,
// when the template is read: {{env `NAME`}}, {{template_dir}}, {{pwd}},
// {{timestamp}}, {{isotime}} and {{uuid}} are the functions it may call.
// The result is a literal: HCL2 variable defaults cannot call functions.
func (t *translator) variableDefault(s string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	trees, err := parse.Parse("value", s, "{{", "}}", goFuncs)
	if err != nil {
		return "", fmt.Errorf("invalid template %q: %s", s, strings.TrimPrefix(err.Error(), "template: value:1: "))
	}
	var b strings.Builder
	for _, n := range trees["value"].Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			b.Write(n.Text)
		case *parse.ActionNode:
			v, err := t.defaultAction(n.Pipe)
			if err != nil {
				return "", fmt.Errorf("in %q: %w", s, err)
			}
			b.WriteString(v)
		default:
			return "", fmt.Errorf("in %q: %s is not supported in a variable's default", s, n)
		}
	}
	return b.String(), nil
}

func (t *translator) defaultAction(p *parse.PipeNode) (string, error) {
	if len(p.Decl) > 0 {
		return "", fmt.Errorf("variables in templates are not supported")
	}
	prev, piped := "", false
	for _, c := range p.Cmds {
		id, ok := c.Args[0].(*parse.IdentifierNode)
		if !ok {
			return "", fmt.Errorf("%s is not a function", c.Args[0])
		}
		var args []string
		for _, a := range c.Args[1:] {
			switch a := a.(type) {
			case *parse.StringNode:
				args = append(args, a.Text)
			case *parse.NumberNode:
				args = append(args, a.Text)
			default:
				return "", fmt.Errorf("%s takes literal arguments in a variable's default", id.Ident)
			}
		}
		if piped {
			args = append(args, prev)
		}
		v, err := t.defaultFunc(id.Ident, args)
		if err != nil {
			return "", err
		}
		prev, piped = v, true
	}
	return prev, nil
}

// defaultFunc runs one of the functions a variable's default may call.
func (t *translator) defaultFunc(name string, args []string) (string, error) {
	want := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %d argument(s), not %d", name, n, len(args))
		}
		return nil
	}
	switch name {
	case "env":
		return getenv(t.opts.Env, first(args)), want(1)
	case "template_dir":
		return t.opts.TemplateDir, want(0)
	case "pwd":
		return t.opts.WorkDir, want(0)
	case "timestamp":
		return strconv.FormatInt(t.opts.Now.Unix(), 10), want(0)
	case "isotime":
		if len(args) == 0 {
			return t.opts.Now.UTC().Format("2006-01-02T15:04:05Z07:00"), nil
		}
		return t.opts.Now.UTC().Format(args[0]), want(1)
	case "uuid":
		return uuid.NewString(), want(0)
	case "user":
		if err := want(1); err != nil {
			return "", err
		}
		if t.values == nil {
			return "", errUserInDefault
		}
		return t.values[args[0]], nil
	case "lower":
		return strings.ToLower(first(args)), want(1)
	case "upper":
		return strings.ToUpper(first(args)), want(1)
	case "replace_all":
		if err := want(3); err != nil {
			return "", err
		}
		return strings.ReplaceAll(args[2], args[0], args[1]), nil
	case "replace":
		if err := want(4); err != nil {
			return "", err
		}
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return "", fmt.Errorf("replace's count must be a number, not %q", args[2])
		}
		return strings.Replace(args[3], args[0], args[1], n), nil
	case "split":
		if err := want(3); err != nil {
			return "", err
		}
		n, err := strconv.Atoi(args[2])
		parts := strings.Split(args[0], args[1])
		if err != nil || n < 0 || n >= len(parts) {
			return "", fmt.Errorf("split: index %s is out of range for %d parts", args[2], len(parts))
		}
		return parts[n], nil
	}
	return "", fmt.Errorf("%s cannot be used in a variable's default", name)
}

// errUserInDefault says a default refers to another variable: it is
// rendered once every variable has its value (RenderVariables).
var errUserInDefault = fmt.Errorf("user in a variable's value is rendered when the variables are known")

// RenderVariables renders the {{ }} in variables' values (from defaults,
// var files or -var) once all are known, as Packer does: a value may use
// {{user `other`}}, {{env}} and the other functions of defaults. Values
// are rendered in passes until none changes, so chains resolve.
func (tr *Translation) RenderVariables(values map[string]string) (map[string]string, error) {
	t := &translator{file: tr.file, opts: tr.opts, values: values}
	for pass := 0; pass < 10; pass++ {
		changed := false
		next := make(map[string]string, len(values))
		for name, v := range t.values {
			if !strings.Contains(v, "{{") {
				next[name] = v
				continue
			}
			r, err := t.variableDefault(v)
			if err != nil {
				return nil, fmt.Errorf("variable %q: %w", name, err)
			}
			next[name] = r
			changed = changed || r != v
		}
		t.values = next
		if !changed {
			break
		}
	}
	return t.values, nil
}

func first(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

func getenv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// RenderVarFileValues renders the named values as legacy Packer renders a
// var file's values ({{user `other`}} from values, {{env `NAME`}}, ...),
// in passes until none changes. It serves HCL2 templates given a legacy
// JSON var file, such as a template made by hcl2_upgrade run with its
// project's existing var files. A value that is not a legacy template
// (it reads a field such as {{ .Path }}, or does not parse) is left as it
// is: it may be meant for a component to render.
func RenderVarFileValues(values map[string]string, names []string, opts Options) map[string]string {
	t := &translator{opts: opts, values: values}
	for pass := 0; pass < 10; pass++ {
		changed := false
		next := make(map[string]string, len(values))
		for k, v := range t.values {
			next[k] = v
		}
		for _, name := range names {
			v := t.values[name]
			if !strings.Contains(v, "{{") {
				continue
			}
			if r, err := t.variableDefault(v); err == nil && r != v {
				next[name], changed = r, true
			}
		}
		t.values = next
		if !changed {
			break
		}
	}
	return t.values
}
