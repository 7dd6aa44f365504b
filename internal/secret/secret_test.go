package secret

import "testing"

func TestMaskReplacesLongestSecretFirst(t *testing.T) {
	Reset()
	t.Cleanup(Reset)
	Add("hunter2", "hunter2-extended", "x")
	got := Mask("pw=hunter2-extended and hunter2 and x")
	want := "pw=<sensitive> and <sensitive> and x"
	if got != want {
		t.Fatalf("Mask = %q, want %q", got, want)
	}
}

func TestMaskMultiLineSecretLineByLine(t *testing.T) {
	Reset()
	t.Cleanup(Reset)
	Add("-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\n-----END KEY-----")
	if got := Mask("line: AAAABBBBCCCCDDDD"); got != "line: <sensitive>" {
		t.Fatalf("Mask = %q", got)
	}
}

func TestTemplateTextKeepsPluginSecretsAndMasksDeclaredOnes(t *testing.T) {
	Reset()
	t.Cleanup(Reset)
	Add("ubuntu")
	AddSensitive("declared-token")
	text := `on ubuntu-setup.pkr.hcl line 3, in source "qemu" "ubuntu": token = "declared-token"`
	if got, want := MaskTemplateText(text), `on ubuntu-setup.pkr.hcl line 3, in source "qemu" "ubuntu": token = "<sensitive>"`; got != want {
		t.Errorf("MaskTemplateText = %q, want %q", got, want)
	}
	if got, want := Mask(text), `on <sensitive>-setup.pkr.hcl line 3, in source "qemu" "<sensitive>": token = "<sensitive>"`; got != want {
		t.Errorf("Mask = %q, want %q", got, want)
	}
}
