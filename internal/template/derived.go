package template

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/sensitive"
)

// registerDerivedSecrets registers for masking the secret values computed
// inside a block's options. A marked option value is registered whole when
// it is decoded, but a secret transformed and embedded in a longer string
// ("echo ${upper(var.pw)}") then shows in output on its own (the command
// prints the upper-cased password), and only the whole line was known to
// the masker. So every sub-expression of an option that yields a marked
// value is evaluated again and its strings registered too. Nothing is
// done until a sensitive value (a variable, local or data source output)
// was registered: templates without secrets pay nothing.
func registerDerivedSecrets(body hcl.Body, ctx *hcl.EvalContext) {
	if ctx == nil || !secret.HasSensitive() {
		return
	}
	if sb, ok := body.(*hclsyntax.Body); ok {
		registerBody(sb, ctx)
		return
	}
	for _, expr := range optionExpressions(body) {
		registerOption(expr, ctx)
	}
}

// registerOption registers the secrets computed inside one option, when
// its value holds a secret at all.
func registerOption(expr hcl.Expression, ctx *hcl.EvalContext) {
	if len(expr.Variables()) == 0 {
		return
	}
	if v, diags := expr.Value(ctx); diags.HasErrors() || !v.ContainsMarked() {
		return
	}
	registerMarkedParts(expr, ctx)
}

// registerBody registers the secrets computed inside a native body's
// options, nested blocks included. A dynamic block's content is walked
// as it will be expanded: once per element of its for_each (up to
// maxForElements), with its iterator set.
func registerBody(b *hclsyntax.Body, ctx *hcl.EvalContext) {
	for _, a := range b.Attributes {
		registerOption(a.Expr, ctx)
	}
	for _, blk := range b.Blocks {
		if blk.Type == "dynamic" && len(blk.Labels) == 1 {
			registerDynamic(blk, ctx)
			continue
		}
		registerBody(blk.Body, ctx)
	}
}

// registerDynamic walks a dynamic block's content blocks with the
// iterator (the block's label, or its iterator argument) bound to each
// element's key and value, as hcl's dynblock does when it expands them.
func registerDynamic(blk *hclsyntax.Block, ctx *hcl.EvalContext) {
	iterator := blk.Labels[0]
	if a, ok := blk.Body.Attributes["iterator"]; ok {
		if tr, diags := hcl.AbsTraversalForExpr(a.Expr); !diags.HasErrors() && len(tr) == 1 {
			iterator = tr.RootName()
		}
	}
	forEach, ok := blk.Body.Attributes["for_each"]
	if !ok {
		return
	}
	coll, diags := forEach.Expr.Value(ctx)
	if diags.HasErrors() {
		return
	}
	eachElement(coll, func(k, v cty.Value) {
		child := ctx.NewChild()
		child.Variables = map[string]cty.Value{iterator: cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})}
		for _, content := range blk.Body.Blocks {
			if content.Type == "content" {
				registerBody(content.Body, child)
			}
		}
	})
}

// eachElement calls fn with the key and value of each element of coll, up
// to maxForElements, each carrying the marks of the collection itself
// (a sensitive list's elements are sensitive). An unknown, null or
// primitive value has no elements.
func eachElement(coll cty.Value, fn func(k, v cty.Value)) {
	coll, marks := coll.Unmark()
	if !coll.IsKnown() || coll.IsNull() || !coll.CanIterateElements() {
		return
	}
	n := 0
	for it := coll.ElementIterator(); it.Next() && n < maxForElements; n++ {
		k, v := it.Element()
		fn(k.WithMarks(marks), v.WithMarks(marks))
	}
}

// registerMarkedParts evaluates each sub-expression of expr that refers to
// something and registers the strings of those that come out marked. The
// parts a string template joins are what ends up in the option (and in
// what a command prints), so they count at any length; other intermediate
// values (a function's argument, a list element) only from
// minDerivedLength characters, so that short fragments of a secret
// (split("-", var.pw)) do not mask common words in all output.
func registerMarkedParts(expr hcl.Expression, ctx *hcl.EvalContext) {
	node, ok := expr.(hclsyntax.Expression)
	if !ok {
		return
	}
	// The whole option was evaluated already, and its value is registered
	// when it is decoded: only its parts are looked at.
	(&partsWalk{}).walk(node, ctx, true)
}

// partsWalk carries the evaluation budget through one option's walk.
type partsWalk struct{ evaluated int }

// walk registers the marked values of root's sub-expressions (and of
// root itself unless skipRoot) evaluated in ctx. The parts inside a for
// expression use its own symbols, which ctx lacks: they are walked once
// per element instead, with the symbols set (forElements).
func (w *partsWalk) walk(root hclsyntax.Expression, ctx *hcl.EvalContext, skipRoot bool) {
	embedded := map[hclsyntax.Expression]bool{}
	perElement := map[hclsyntax.Expression]bool{}
	hclsyntax.VisitAll(root, func(n hclsyntax.Node) hcl.Diagnostics {
		// Nodes that are not expressions (a for expression's ChildScope,
		// a struct with a map inside: no map key) only hold expressions.
		sub, ok := n.(hclsyntax.Expression)
		if !ok || perElement[sub] {
			return nil
		}
		switch t := n.(type) {
		case *hclsyntax.TemplateExpr:
			for _, p := range t.Parts {
				embedded[p] = true
			}
		case *hclsyntax.TemplateWrapExpr:
			embedded[t.Wrapped] = true
		case *hclsyntax.ForExpr:
			for _, e := range []hclsyntax.Expression{t.KeyExpr, t.ValExpr, t.CondExpr} {
				if e != nil {
					hclsyntax.VisitAll(e, func(c hclsyntax.Node) hcl.Diagnostics {
						if ce, ok := c.(hclsyntax.Expression); ok {
							perElement[ce] = true
						}
						return nil
					})
				}
			}
			w.forElements(t, ctx)
		}
		if (skipRoot && sub == root) || len(sub.Variables()) == 0 || !w.spend() {
			return nil
		}
		v, diags := sub.Value(ctx)
		if diags.HasErrors() || !v.ContainsMarked() {
			return nil
		}
		for _, s := range sensitive.Strings(v) {
			if embedded[sub] || len(s) >= minDerivedLength {
				secret.AddSensitive(s)
			}
		}
		return nil
	})
}

// forElements walks the key and value expressions of a for expression
// once per element of its collection (up to maxForElements), with the
// element's key and value as the expression's symbols: "echo ${upper(s)}"
// inside [for s in var.pws : ...] yields each upper-cased secret.
func (w *partsWalk) forElements(f *hclsyntax.ForExpr, ctx *hcl.EvalContext) {
	if !w.spend() {
		return
	}
	coll, diags := f.CollExpr.Value(ctx)
	if diags.HasErrors() || !coll.ContainsMarked() && !forBodyUsesOuterSecrets(f, ctx) {
		return
	}
	eachElement(coll, func(k, v cty.Value) {
		child := ctx.NewChild()
		child.Variables = map[string]cty.Value{f.ValVar: v}
		if f.KeyVar != "" {
			child.Variables[f.KeyVar] = k
		}
		for _, e := range []hclsyntax.Expression{f.KeyExpr, f.ValExpr} {
			if e != nil {
				w.walk(e, child, false)
			}
		}
	})
}

// forBodyUsesOuterSecrets reports whether a for expression's key or value
// expression refers to something marked outside it ([for s in ["a"] :
// "${s}${var.pw}"]): then its parts are secrets although the collection
// is not.
func forBodyUsesOuterSecrets(f *hclsyntax.ForExpr, ctx *hcl.EvalContext) bool {
	for _, e := range []hclsyntax.Expression{f.KeyExpr, f.ValExpr} {
		if e == nil {
			continue
		}
		for _, tr := range e.Variables() {
			if name := tr.RootName(); name == f.KeyVar || name == f.ValVar {
				continue
			}
			if v, diags := tr.TraverseAbs(ctx); !diags.HasErrors() && v.ContainsMarked() {
				return true
			}
		}
	}
	return false
}

// spend takes one evaluation from the budget; false when it is used up.
func (w *partsWalk) spend() bool {
	if w.evaluated >= maxDerivedEvaluations {
		return false
	}
	w.evaluated++
	return true
}

// minDerivedLength is the shortest intermediate secret value registered.
const minDerivedLength = 8

// maxDerivedEvaluations bounds the sub-expressions evaluated again per
// option: each evaluation costs its subtree, so a deeply nested expression
// would otherwise cost the square of its size. Real options have a few
// dozen nodes; past the bound the rest is left to whole-value masking.
const maxDerivedEvaluations = 256

// maxForElements bounds the elements of a for expression (or a dynamic
// block's for_each) walked one by one; a for expression's walks also
// spend its option's evaluation budget.
const maxForElements = 64

// optionExpressions lists the expressions of the attributes of a body
// that is not native. A JSON body (a legacy or .pkr.json template) has no
// syntax tree to walk: its strings are parsed as the templates they are.
// Of a merged body, the attributes are listed.
func optionExpressions(body hcl.Body) []hcl.Expression {
	attrs, diags := body.JustAttributes()
	if diags.HasErrors() && len(attrs) == 0 {
		return nil
	}
	var out []hcl.Expression
	for _, a := range attrs {
		if _, native := a.Expr.(hclsyntax.Expression); native {
			// A native body merged with another (a build's source
			// overrides, an override file).
			out = append(out, a.Expr)
			continue
		}
		// With no context, a JSON string is its literal text.
		lit, _ := a.Expr.Value(nil)
		for _, s := range templateStrings(lit) {
			if e, d := hclsyntax.ParseTemplate([]byte(s), a.Expr.Range().Filename, a.Expr.Range().Start); !d.HasErrors() {
				out = append(out, e)
			}
		}
	}
	return out
}

// templateStrings returns the strings in v that hold an interpolation.
func templateStrings(v cty.Value) []string {
	var out []string
	for _, s := range stringLeaves(v) {
		if strings.Contains(s, "${") {
			out = append(out, s)
		}
	}
	return out
}
