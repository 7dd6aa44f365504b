package template

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/sensitive"
)

// Local is a local value, from a locals block or a local block.
type Local struct {
	Name      string
	Expr      hcl.Expression
	Sensitive bool
	DeclRange hcl.Range
	Value     cty.Value
}

var localBlockSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "expression", Required: true},
	{Name: "sensitive"},
}}

func (t *Template) decodeLocals() hcl.Diagnostics {
	var diags hcl.Diagnostics
	add := func(l *Local) {
		if old, dup := t.locals[l.Name]; dup {
			diags = append(diags, duplicate("local", l.Name, old.DeclRange, l.DeclRange))
			return
		}
		t.locals[l.Name] = l
		t.localList = append(t.localList, l)
	}
	for _, file := range t.bodies {
		for _, b := range file.Blocks {
			switch b.Type {
			case "locals":
				attrs, d := b.Body.JustAttributes()
				diags = append(diags, d...)
				for _, a := range sortedAttrs(attrs) {
					add(&Local{Name: a.Name, Expr: a.Expr, DeclRange: a.Range})
				}
			case "local":
				content, d := b.Body.Content(localBlockSchema)
				diags = append(diags, d...)
				if content == nil || content.Attributes["expression"] == nil {
					continue
				}
				l := &Local{Name: b.Labels[0], Expr: content.Attributes["expression"].Expr, DeclRange: b.DefRange}
				diags = append(diags, constBool(content.Attributes["sensitive"], &l.Sensitive)...)
				add(l)
			}
		}
	}
	return diags
}

// node is a local or a data source in the order they are evaluated in.
type node struct {
	id    string // "local.NAME" or "data.TYPE.NAME"
	rng   hcl.Range
	deps  []string
	refs  []hcl.Traversal // every reference in its expression or body
	local *Local
	data  *DataSource
}

// evaluateLocalsAndData evaluates locals and data sources in dependency
// order, so either may refer to the other; a cycle is an error that names
// its members.
func (t *Template) evaluateLocalsAndData() hcl.Diagnostics {
	// Variables are final now: build var.* once, not once per local.
	t.varObject = cty.ObjectVal(t.varValues)
	diags := t.decodeLocals()
	if diags.HasErrors() {
		return diags
	}
	nodes := map[string]*node{}
	var ids []string
	for _, l := range t.localList {
		n := &node{id: "local." + l.Name, rng: l.DeclRange, local: l}
		nodes[n.id], ids = n, append(ids, n.id)
	}
	for _, ds := range t.dataList {
		n := &node{id: "data." + ds.Type + "." + ds.Name, rng: ds.DeclRange, data: ds}
		nodes[n.id], ids = n, append(ids, n.id)
	}
	for _, id := range ids {
		n := nodes[id]
		var trs []hcl.Traversal
		if n.local != nil {
			trs = n.local.Expr.Variables()
		} else {
			trs = bodyTraversals(n.data.Body)
		}
		n.refs = trs
		seen := map[string]bool{}
		for _, tr := range trs {
			if dep := refID(tr); dep != "" && nodes[dep] != nil && !seen[dep] {
				seen[dep] = true
				n.deps = append(n.deps, dep)
			}
		}
	}
	order, cycle := topoSort(ids, nodes)
	if cycle != nil {
		first := nodes[cycle[0]]
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cycle in locals and data sources",
			Detail: fmt.Sprintf("These values refer to each other in a loop, so none of them can be evaluated: %s. "+
				"Break the loop by removing one of the references.", strings.Join(cycle, " -> ")),
			Subject: first.rng.Ptr(),
		})
	}
	for _, id := range order {
		n := nodes[id]
		ctx := t.scopedContext(n.refs)
		if n.local != nil {
			diags = append(diags, t.evaluateLocal(n.local, ctx)...)
		} else {
			diags = append(diags, t.evaluateData(n.data, ctx)...)
		}
	}
	t.evalCtx = nil
	return diags
}

func (t *Template) evaluateLocal(l *Local, ctx *hcl.EvalContext) hcl.Diagnostics {
	val, diags := l.Expr.Value(ctx)
	if diags.HasErrors() {
		val = cty.DynamicVal
	}
	if l.Sensitive {
		t.addSensitive(stringLeaves(val)...)
		val = sensitive.Mark(val)
	} else if sensitive.Has(val) {
		// Computed from a sensitive value: masked wherever it is printed,
		// even where it reaches no plugin (console, inspect).
		t.addSensitive(sensitive.Strings(val)...)
	}
	l.Value = val
	t.localValues[l.Name] = val
	return diags
}

// refID names the local or data source a traversal starts with, or "".
func refID(tr hcl.Traversal) string {
	switch tr.RootName() {
	case "local":
		if n := attrStep(tr, 1); n != "" {
			return "local." + n
		}
	case "data":
		if ty, n := attrStep(tr, 1), attrStep(tr, 2); ty != "" && n != "" {
			return "data." + ty + "." + n
		}
	}
	return ""
}

// topoSort orders ids so that each comes after what it depends on. It
// returns the members of a cycle, closed (a -> b -> a), when there is one.
func topoSort(ids []string, nodes map[string]*node) ([]string, []string) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var order, stack, cycle []string
	var visit func(id string) bool
	visit = func(id string) bool {
		switch state[id] {
		case done:
			return true
		case visiting:
			for i, s := range stack {
				if s == id {
					cycle = append(append([]string(nil), stack[i:]...), id)
					break
				}
			}
			return false
		}
		state[id] = visiting
		stack = append(stack, id)
		for _, d := range nodes[id].deps {
			if !visit(d) {
				return false
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
		order = append(order, id)
		return true
	}
	for _, id := range ids {
		if !visit(id) {
			return nil, cycle
		}
	}
	return order, nil
}

// bodyTraversals returns every variable reference in a body, nested
// blocks included.
func bodyTraversals(body hcl.Body) []hcl.Traversal {
	if sb, ok := body.(*hclsyntax.Body); ok {
		var out []hcl.Traversal
		names := make([]string, 0, len(sb.Attributes))
		for n := range sb.Attributes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, sb.Attributes[n].Expr.Variables()...)
		}
		for _, b := range sb.Blocks {
			out = append(out, bodyTraversals(b.Body)...)
		}
		return out
	}
	attrs, _ := body.JustAttributes()
	var out []hcl.Traversal
	for _, a := range sortedAttrs(attrs) {
		out = append(out, a.Expr.Variables()...)
	}
	return out
}
