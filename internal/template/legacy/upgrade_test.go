package legacy

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func TestUpgradeWritesBlocksAsTheSchemaSaysAndValidHCL(t *testing.T) {
	src := `{
  "variables": {"home": "{{env ` + "`HOME`" + `}}", "req": null},
  "builders": [{"type": "amazon-ebs", "ami_name": "x-{{timestamp}}",
    "launch_block_device_mappings": [{"device_name": "/dev/sda1", "volume_size": 8}],
    "tags": {"Name": "{{user ` + "`req`" + `}}"}},
    {"type": "unknown-plugin", "name": "u", "disks": [{"size": 1}], "labels": {"a": "b"}}],
  "provisioners": [{"type": "shell", "inline": ["echo \"quoted\" {{user ` + "`home`" + `}}"]}],
  "post-processors": ["manifest"]
}`
	schema := func(kind, typ string) *Schema {
		if typ == "amazon-ebs" {
			return &Schema{Blocks: map[string]*Schema{"launch_block_device_mappings": {}}}
		}
		return nil
	}
	out, diags := Upgrade("t.json", []byte(src), Options{Now: time.Now()}, schema, true)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	text := string(out)
	if _, d := hclsyntax.ParseConfig(out, "up.pkr.hcl", hcl.InitialPos); d.HasErrors() {
		t.Fatalf("the output is not HCL: %v\n%s", d, text)
	}
	for _, want := range []string{
		`default = env("HOME")`,                                 // env stays a call
		`timestamp = regex_replace(timestamp(), "[- TZ:]", "")`, // as hcl2_upgrade writes it
		"launch_block_device_mappings {",                        // a block by the schema
		"tags = {",                                              // a map
		"disks {",                                               // unknown plugin: list of objects
		`labels = {`,                                            // unknown plugin: object
		`"echo \"quoted\" ${var.home}"`,                         // escaped text, kept expression
		`ami_name = "x-${local.timestamp}"`,
		"# The builder named", // annotations
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, `variable "req" {`+"\n"+`  default`) {
		t.Errorf("a null variable got a default:\n%s", text)
	}
}

// A valid legacy construct that HCL2 cannot express does not fail the
// upgrade: its text is kept and a TODO comment says what to do, as
// Packer's upgrader does. The same construct fails a direct translation.
func TestUpgradeKeepsWhatHCL2CannotExpressWithATODO(t *testing.T) {
	src := `{"builders": [{"type": "null", "communicator": "none"}],
  "provisioners": [{"type": "shell-local", "inline": ["echo {{ replace ` + "`a` `b` 2 `aaa`" + ` }}"]}]}`
	out, diags := Upgrade("t.json", []byte(src), Options{Now: time.Now()}, nil, false)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	text := string(out)
	if !strings.Contains(text, "# TODO: ") || !strings.Contains(text, "replace with a count other than -1") {
		t.Errorf("no TODO comment:\n%s", text)
	}
	if !strings.Contains(text, "\"echo {{ replace `a` `b` 2 `aaa` }}\"") {
		t.Errorf("the untranslatable text is not kept:\n%s", text)
	}
	if _, d := hclsyntax.ParseConfig(out, "up.pkr.hcl", hcl.InitialPos); d.HasErrors() {
		t.Fatalf("the output is not HCL: %v\n%s", d, text)
	}
	if _, diags := Translate("t.json", []byte(src), Options{Now: time.Now()}); !diags.HasErrors() {
		t.Error("a direct translation accepted what it cannot run")
	}
}

// -with-annotations has Packer's meaning: explanatory comments (a file
// header and one per block group) only when asked for; without it the
// file carries no comment but the TODOs.
func TestUpgradeWritesExplanatoryCommentsOnlyWithAnnotations(t *testing.T) {
	src := `{"variables": {"v": "x"},
  "builders": [{"type": "null", "communicator": "none"}],
  "provisioners": [{"type": "shell-local", "inline": ["echo {{user ` + "`v`" + `}} {{timestamp}}"]}]}`
	plain, diags := Upgrade("t.json", []byte(src), Options{Now: time.Now()}, nil, false)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	inTODO := false // a TODO's following comment lines are its own
	for _, l := range strings.Split(string(plain), "\n") {
		c := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(c, "# TODO"):
			inTODO = true
		case strings.HasPrefix(c, "#") && !inTODO:
			t.Errorf("without annotations the output has the comment %q:\n%s", c, plain)
		case !strings.HasPrefix(c, "#"):
			inTODO = false
		}
	}
	annotated, diags := Upgrade("t.json", []byte(src), Options{Now: time.Now()}, nil, true)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	text := string(annotated)
	for _, want := range []string{
		"# Written by imgbuild hcl2_upgrade", // the file header
		"user variables",                     // the variables' comment
		"local.timestamp",                    // the locals' comment
		"# The build:",                       // the build's comment
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the annotated output lacks %q:\n%s", want, text)
		}
	}
	if _, d := hclsyntax.ParseConfig(annotated, "up.pkr.hcl", hcl.InitialPos); d.HasErrors() {
		t.Fatalf("the annotated output is not HCL: %v\n%s", d, text)
	}
}

// {{timestamp}} is Unix seconds in a JSON template; HCL2 has no function
// for them, so the upgrade's local.timestamp has another format. The
// upgraded file says so in a TODO, annotated or not, and only where the
// template uses {{timestamp}}; elsewhere there is no timestamp local.
func TestUpgradeSaysTheTimestampChangesFormat(t *testing.T) {
	withTS := `{"builders": [{"type": "null", "communicator": "none"}],
  "provisioners": [{"type": "shell-local", "inline": ["echo {{timestamp}}"]}]}`
	out, diags := Upgrade("t.json", []byte(withTS), Options{Now: time.Now()}, nil, false)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if !strings.Contains(string(out), "# TODO: {{timestamp}} gave Unix seconds") {
		t.Errorf("the upgrade does not say that the timestamp changes format:\n%s", out)
	}
	without := `{"builders": [{"type": "null", "communicator": "none"}],
  "provisioners": [{"type": "shell-local", "inline": ["echo {{uuid}}"]}]}`
	out, diags = Upgrade("t.json", []byte(without), Options{Now: time.Now()}, nil, false)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if strings.Contains(string(out), "Unix seconds") {
		t.Errorf("a template without {{timestamp}} got the timestamp note:\n%s", out)
	}
	if strings.Contains(string(out), "timestamp = ") {
		t.Errorf("a template without {{timestamp}} got a timestamp local (Packer's upgrader writes none):\n%s", out)
	}
}
