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
// (so that path.root is the template's folder): hcl2_upgrade succeeds or
// fails as Packer's does, and the HCL2 template validates with the entry's
// arguments wherever Packer's own upgrade gives one that validates. (Where Packer's does not, the
// result is logged: a var file with {{user}} in its values, for one,
// stays a legacy file.)
func TestHCL2UpgradeOfTheJSONCorpusValidates(t *testing.T) {
	dir, entries := compatCorpus(t, "compat-json")
	installCompatPlugins(t)
	for _, e := range entries {
		if e.EnvironmentalFailure || e.UpgradeExit == nil {
			continue
		}
		// Packer's upgrade verdict must be ours; its upgraded file must
		// validate wherever Packer's does.
		wantUpgrade := *e.UpgradeExit == 0
		mustValidate := e.ValidateExit == 0
		t.Run(e.Dir+"/"+strings.Join(e.Args, " "), func(t *testing.T) {
			work := filepath.Join(t.TempDir(), e.Dir)
			if err := os.CopyFS(work, os.DirFS(filepath.Join(dir, "templates", e.Dir))); err != nil {
				t.Fatal(err)
			}
			t.Chdir(work)
			upgraded := e.File + ".pkr.hcl"
			var out, errOut bytes.Buffer
			code := Main([]string{"hcl2_upgrade", "-output-file", upgraded, e.File}, strings.NewReader(""), &out, &errOut)
			if (code == 0) != wantUpgrade {
				t.Fatalf("hcl2_upgrade: exit %d; Packer exits %d\n%s%s", code, *e.UpgradeExit, &out, &errOut)
			}
			if code != 0 || !mustValidate {
				return
			}
			out.Reset()
			errOut.Reset()
			args := append(append([]string{"validate"}, e.Args...), upgraded)
			if code := Main(args, strings.NewReader(""), &out, &errOut); code != 0 {
				text, _ := os.ReadFile(upgraded)
				t.Errorf("the upgraded template does not validate: exit %d\n%s%s\n--- %s\n%s", code, &out, &errOut, upgraded, text)
			}
		})
	}
}
