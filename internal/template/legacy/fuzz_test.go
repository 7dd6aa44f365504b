package legacy

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzTranslate: no input makes the translation panic, and what it
// produces is valid JSON for HCL's parser.
func FuzzTranslate(f *testing.F) {
	for _, seed := range []string{
		`{"builders": [{"type": "docker", "image": "{{user ` + "`x`" + `}}"}]}`,
		`{"variables": {"a": null, "b": "{{env ` + "`B`" + `}}"}, "builders": [{"type": "null"}], "post-processors": ["manifest", [{"type": "x"}]]}`,
		`{"builders": [{"type": "qemu", "boot_command": ["{{ .HTTPIP }}"]}], "provisioners": [{"type": "shell", "only": ["qemu"]}]}`,
		`{"builders": [`, `[]`, `{"builders": {}}`, `{"builders": [{"type": "a", "x": "{{"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		tr, diags := Translate("f.json", src, Options{Now: time.Unix(0, 0)})
		if diags.HasErrors() {
			for _, d := range diags {
				if d.Subject == nil {
					t.Fatalf("an error without a location: %s", d.Summary)
				}
			}
			return
		}
		if !Is(tr.HCL) && len(tr.HCL) == 0 {
			t.Fatal("empty translation")
		}
		var v any
		if err := jsonUnmarshal(tr.HCL, &v); err != nil {
			t.Fatalf("the translation is not JSON: %v\n%s", err, tr.HCL)
		}
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
