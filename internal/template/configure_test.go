package template

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// A plugin's error is reported at the option it names, whatever the
// plugin's style (imgbuild's "x must be set" and "x: ...", Packer's
// multi-error "* A x must be specified"), and at the block when the
// message names no option the block sets.
func TestPrepareErrorsPointAtTheOptionTheyName(t *testing.T) {
	src := `source "any" "x" {
  region   = "us-east-1"
  ssh_username = ""
  temporary_security_group_source_cidrs = ["10.0.0.0/99"]
  launch_block_device_mappings {
    device_name = "/dev/sda1"
  }
}
`
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	block := f.Body.(*hclsyntax.Body).Blocks[0]
	at := block.DefRange()
	for _, c := range []struct {
		err   error
		lines []int
	}{
		{errors.New(`temporary_security_group_source_cidrs: "10.0.0.0/99" is not a CIDR`), []int{4}},
		{errors.New("region must be one of us-east-1, ..."), []int{2}},
		{errors.New("launch_block_device_mappings needs volume_size"), []int{5}},
		{errors.New("ami_name must be set: it names the AMI"), []int{1}}, // not set: the block
		{errors.Join(errors.New("ami_name must be set"), fmt.Errorf("region %q is unknown", "x")), []int{1, 2}},
		{errors.New("2 error(s) occurred:\n\n* A ssh_username must be specified\n* An instance_type must be specified"), []int{3, 1}},
	} {
		got := prepareDiags(c.err, block.Body, at)
		if len(got) != len(c.lines) {
			t.Errorf("%q: %d diagnostics, want %d: %v", c.err, len(got), len(c.lines), got)
			continue
		}
		for i, d := range got {
			if d.Subject == nil || d.Subject.Start.Line != c.lines[i] {
				t.Errorf("%q: diagnostic %d (%s) points at %v, want line %d", c.err, i, d.Summary, d.Subject, c.lines[i])
			}
		}
	}
}
