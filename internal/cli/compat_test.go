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

// compatEntry is one judged run of a corpus's expected.json.
type compatEntry struct {
	Dir                  string   `json:"dir"`
	File                 string   `json:"file"` // "" for the folder itself
	Args                 []string `json:"args"`
	SyntaxOnlyExit       int      `json:"packer_syntax_only_exit"`
	ValidateExit         int      `json:"packer_validate_exit"`
	FirstLine            string   `json:"packer_validate_first_line"`
	EnvironmentalFailure bool     `json:"environmental_failure"`
	// UpgradedValidateExit is Packer's verdict on its hcl2_upgrade output,
	// validated beside the template (compat-json); nil when it has none.
	UpgradedValidateExit *int `json:"upgraded_validate_exit_beside_template"`
	// UpgradeExit is Packer's hcl2_upgrade exit status (compat-json).
	UpgradeExit *int `json:"packer_hcl2_upgrade_exit"`
}

// compatCorpus returns the folder of ../shared/NAME (compat,
// compat-plugins, compat-json) and its judged runs.
func compatCorpus(t *testing.T, name string) (string, []compatEntry) {
	t.Helper()
	compat := testenv.SharedCompatDir()
	if compat == "" {
		testenv.Unavailable(t, "../shared/compat is not there")
	}
	dir := filepath.Join(filepath.Dir(compat), name)
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		testenv.Unavailable(t, "../shared/"+name+": "+err.Error())
	}
	var entries []compatEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatalf("reading %s/expected.json: %v", name, err)
	}
	return dir, entries
}

// checkCompatVerdicts runs `validate -syntax-only` and `validate` with
// each entry's recorded args from inside its folder, and compares the exit
// status with Packer 1.9.4's. A rejection must also point at a line.
func checkCompatVerdicts(t *testing.T, dir string, entries []compatEntry) {
	for _, e := range entries {
		if e.EnvironmentalFailure {
			continue
		}
		target := e.File
		if target == "" {
			target = "."
		}
		for _, mode := range []struct {
			flags []string
			want  int
		}{{[]string{"-syntax-only"}, e.SyntaxOnlyExit}, {nil, e.ValidateExit}} {
			name := e.Dir + "/" + strings.Join(append(append([]string(nil), mode.flags...), e.Args...), " ")
			t.Run(name, func(t *testing.T) {
				t.Chdir(filepath.Join(dir, "templates", e.Dir))
				args := append(append(append([]string{"validate"}, mode.flags...), e.Args...), target)
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

// TestValidateGivesPackersVerdictOnTheCompatCorpus checks ../shared/compat
// (templates using the built-in plugins) in the corpus README's
// environment.
func TestValidateGivesPackersVerdictOnTheCompatCorpus(t *testing.T) {
	dir, entries := compatCorpus(t, "compat")
	for k, v := range map[string]string{
		"CHECKPOINT_DISABLE": "1", "PACKER_LOG": "0",
		"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example", "AWS_REGION": "us-east-1",
	} {
		t.Setenv(k, v)
	}
	checkCompatVerdicts(t, dir, entries)
}
