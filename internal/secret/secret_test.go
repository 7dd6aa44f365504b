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
