package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateGivesPackersVerdictOnTheJSONCompatCorpus checks
// ../shared/compat-json, real legacy JSON templates, in the environment its
// README describes (the same plugins as the plugin corpus).
func TestValidateGivesPackersVerdictOnTheJSONCompatCorpus(t *testing.T) {
	dir, entries := compatCorpus(t, "compat-json")
	installCompatPlugins(t)
	checkCompatVerdicts(t, dir, entries)
}

// TestHCL2UpgradeOfTheJSONCorpusValidates upgrades the templates of
// ../shared/compat-json, beside the template in a scratch copy of its set
// (so that path.root is the template's folder), and validates the HCL2
// template with the entry's arguments: wherever Packer's own upgrade gives
// a template that validates, ours must too. (Where Packer's does not, the
// result is logged: a var file with {{user}} in its values, for one,
// stays a legacy file.)
func TestHCL2UpgradeOfTheJSONCorpusValidates(t *testing.T) {
	dir, entries := compatCorpus(t, "compat-json")
	installCompatPlugins(t)
	for _, e := range entries {
		if e.EnvironmentalFailure || e.ValidateExit != 0 || e.UpgradedValidateExit == nil {
			continue
		}
		mustValidate := *e.UpgradedValidateExit == 0
		t.Run(e.Dir+"/"+strings.Join(e.Args, " "), func(t *testing.T) {
			work := filepath.Join(t.TempDir(), e.Dir)
			if err := os.CopyFS(work, os.DirFS(filepath.Join(dir, "templates", e.Dir))); err != nil {
				t.Fatal(err)
			}
			t.Chdir(work)
			upgraded := e.File + ".pkr.hcl"
			var out, errOut bytes.Buffer
			if code := Main([]string{"hcl2_upgrade", "-output-file", upgraded, e.File}, strings.NewReader(""), &out, &errOut); code != 0 {
				t.Fatalf("hcl2_upgrade: exit %d\n%s%s", code, &out, &errOut)
			}
			out.Reset()
			errOut.Reset()
			args := append(append([]string{"validate"}, e.Args...), upgraded)
			if code := Main(args, strings.NewReader(""), &out, &errOut); code != 0 {
				if !mustValidate {
					t.Logf("the upgraded template does not validate, nor does Packer's:\n%s", &errOut)
					return
				}
				text, _ := os.ReadFile(upgraded)
				t.Errorf("the upgraded template does not validate: exit %d\n%s%s\n--- %s\n%s", code, &out, &errOut, upgraded, text)
			}
		})
	}
}
