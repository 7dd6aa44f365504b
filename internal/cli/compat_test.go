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

// compatEntry is one judged run of ../shared/compat/expected.json.
type compatEntry struct {
	Dir                  string   `json:"dir"`
	Args                 []string `json:"args"`
	SyntaxOnlyExit       int      `json:"packer_syntax_only_exit"`
	ValidateExit         int      `json:"packer_validate_exit"`
	FirstLine            string   `json:"packer_validate_first_line"`
	EnvironmentalFailure bool     `json:"environmental_failure"`
}

// TestValidateGivesPackersVerdictOnTheCompatCorpus runs `validate
// -syntax-only` and `validate` with each entry's recorded args from inside
// its folder, in the corpus README's environment, and compares the exit
// status with Packer 1.9.4's. A rejection must also point at a file and
// line.
func TestValidateGivesPackersVerdictOnTheCompatCorpus(t *testing.T) {
	dir := testenv.SharedCompatDir()
	if dir == "" {
		testenv.Unavailable(t, "../shared/compat is not there")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []compatEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatalf("reading expected.json: %v", err)
	}
	for k, v := range map[string]string{
		"CHECKPOINT_DISABLE": "1", "PACKER_LOG": "0",
		"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example", "AWS_REGION": "us-east-1",
	} {
		t.Setenv(k, v)
	}
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
				args := append(append(append([]string{"validate"}, mode.flags...), e.Args...), ".")
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
