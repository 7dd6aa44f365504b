package null

import (
	"context"
	"strings"
	"testing"
)

func TestOutputIsTheInputAndInputIsRequired(t *testing.T) {
	d := &DataSource{}
	if _, err := d.Prepare(); err == nil || !strings.Contains(err.Error(), "input must be set") {
		t.Errorf("Prepare without input = %v", err)
	}
	d.Config().(*Config).Input = "ubuntu-24.04"
	if _, err := d.Prepare(); err != nil {
		t.Fatal(err)
	}
	v, err := d.Execute(context.Background())
	if err != nil || !v.Type().Equals(d.OutputType()) || v.GetAttr("output").AsString() != "ubuntu-24.04" {
		t.Errorf("Execute = %#v, %v", v, err)
	}
}
