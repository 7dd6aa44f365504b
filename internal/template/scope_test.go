package template

import (
	"fmt"
	"strings"
	"testing"
)

// A chain of locals, each referring to the one before, with a data source
// in the middle of it. Rebuilding the whole local object for every local
// copies n(n-1)/2 values (800 million for 40k locals, minutes of work);
// evaluating each against what it refers to copies about one value per
// local.
func TestLocalsAndDataSourcesAreEvaluatedWithLinearWork(t *testing.T) {
	const n = 40000
	var src strings.Builder
	src.WriteString("locals {\n  l0 = \"x\"\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&src, "  l%d = local.l%d\n", i, i-1)
	}
	src.WriteString("}\n")
	fmt.Fprintf(&src, "data \"test-data\" \"mid\" {\n  want = local.l%d\n}\n", n/2)
	src.WriteString("locals {\n  from_data = data.test-data.mid.id\n}\n")

	tpl, diags := loadInline("chain.pkr.hcl", []byte(src.String()), LoadOptions{EvaluateDataSources: true})
	if diags.HasErrors() {
		t.Fatal(diagsText(diags))
	}
	if limit := 2 * (n + 1); tpl.contextValues > limit {
		t.Errorf("evaluating %d locals copied %d values into evaluation contexts; want at most %d (linear)", n+1, tpl.contextValues, limit)
	}
	expectValues(t, tpl, map[string]string{
		fmt.Sprintf("local.l%d", n-1): `"x"`,
		"local.from_data":             `"id-x"`,
	})
}

// A reference to an undeclared local still gets hcl's error with the
// names that exist, which the narrowed context alone would not have.
func TestUndeclaredLocalInALocalSuggestsTheDeclaredOnes(t *testing.T) {
	src := "locals {\n  base = \"x\"\n  tag = \"${local.bsae}-1\"\n}\n"
	_, diags := loadInline("typo.pkr.hcl", []byte(src), LoadOptions{})
	explainDiagnostics(diags) // as Load does
	if !diags.HasErrors() {
		t.Fatal("no error for local.bsae")
	}
	if text := diagsText(diags); !strings.Contains(text, `Did you mean "base"?`) {
		t.Errorf("error does not suggest local.base:\n%s", text)
	}
}
