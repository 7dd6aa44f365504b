package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestValidateGivesPackersVerdictOnTheJSONCompatCorpus runs `validate
// -syntax-only` and `validate` on ../shared/compat-json, real legacy JSON
// templates, in the environment its README describes, and compares the
// exit status with Packer 1.9.4's.
func TestValidateGivesPackersVerdictOnTheJSONCompatCorpus(t *testing.T) {
	compat := testenv.SharedCompatDir()
	if compat == "" {
		testenv.Unavailable(t, "../shared/compat is not there")
	}
	dir := filepath.Join(filepath.Dir(compat), "compat-json")
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		testenv.Unavailable(t, "../shared/compat-json: "+err.Error())
	}
	var entries []struct {
		compatEntry
		File string `json:"file"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatalf("reading expected.json: %v", err)
	}
	installCompatPlugins(t)
	for _, e := range entries {
		if e.EnvironmentalFailure {
			continue
		}
		for _, mode := range []struct {
			flags []string
			want  int
		}{{[]string{"-syntax-only"}, e.SyntaxOnlyExit}, {nil, e.ValidateExit}} {
			name := e.Dir + "/" + strings.Join(append(append([]string(nil), mode.flags...), e.Args...), " ")
			t.Run(name, func(t *testing.T) {
				t.Chdir(filepath.Join(dir, "templates", e.Dir))
				args := append(append(append([]string{"validate"}, mode.flags...), e.Args...), e.File)
				var out, errOut bytes.Buffer
				code := Main(args, strings.NewReader(""), &out, &errOut)
				if (code == 0) != (mode.want == 0) {
					t.Fatalf("exit %d; Packer exits %d (%q)\nstdout:\n%s\nstderr:\n%s", code, mode.want, e.FirstLine, &out, &errOut)
				}
				if code != 0 && !strings.Contains(errOut.String(), " line ") {
					t.Errorf("the rejection names no line:\n%s", &errOut)
				}
			})
		}
	}
}
