package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgbuild/imgbuild/internal/plugin"
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
// arguments wherever the JSON template does (the verdict test checks that
// ours on the JSON template is Packer's).
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

// TestHCL2UpgradeOfTheJSONCorpusConfiguresTheSameBuilders loads each
// corpus template that validates and its upgrade with the entry's
// arguments: every build has the same builder configuration in both, but
// for the values that differ by nature: a {{uuid}} is drawn per
// evaluation, and {{timestamp}}'s Unix seconds are YYYYMMDDhhmmss in HCL2
// (the upgrade says so in a TODO).
func TestHCL2UpgradeOfTheJSONCorpusConfiguresTheSameBuilders(t *testing.T) {
	dir, entries := compatCorpus(t, "compat-json")
	installCompatPlugins(t)
	for _, e := range entries {
		if e.EnvironmentalFailure || e.UpgradeExit == nil || *e.UpgradeExit != 0 || e.ValidateExit != 0 {
			continue
		}
		t.Run(e.Dir+"/"+strings.Join(e.Args, " "), func(t *testing.T) {
			work := filepath.Join(t.TempDir(), e.Dir)
			if err := os.CopyFS(work, os.DirFS(filepath.Join(dir, "templates", e.Dir))); err != nil {
				t.Fatal(err)
			}
			t.Chdir(work)
			upgraded := e.File + ".pkr.hcl"
			var out, errOut bytes.Buffer
			if code := Main([]string{"hcl2_upgrade", "-output-file", upgraded, e.File}, strings.NewReader(""), &out, &errOut); code != 0 {
				t.Fatalf("hcl2_upgrade: exit %d\n%s", code, &errOut)
			}
			json, hcl := plannedBuilders(t, e.File, e.Args), plannedBuilders(t, upgraded, e.Args)
			if len(json) != len(hcl) {
				t.Errorf("the JSON template plans %d builds, its upgrade %d", len(json), len(hcl))
			}
			for name, b := range json {
				if d := cmp.Diff(b, hcl[name], cmp.Exporter(func(reflect.Type) bool { return true }),
					cmp.Transformer("perRun", maskPerRunValues)); d != "" {
					t.Errorf("build %s is configured differently (-json +upgraded):\n%s", name, d)
				}
			}
		})
	}
}

var (
	uuidPattern  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	stampPattern = regexp.MustCompile(`\b(1[0-9]{9}|20[0-9]{12})\b`)
)

// maskPerRunValues replaces the uuids and timestamps in s, which differ
// between two loads of one template.
func maskPerRunValues(s string) string {
	return stampPattern.ReplaceAllString(uuidPattern.ReplaceAllString(s, "UUID"), "TIMESTAMP")
}

// plannedBuilders loads the template at path with the command-line
// arguments args (-var, -var-file) and returns each build's prepared
// builder by its full name.
func plannedBuilders(t *testing.T, path string, args []string) map[string]plugin.Builder {
	t.Helper()
	var tf templateFlags
	for i := 0; i < len(args); i++ {
		flag, value, inline := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !inline && i+1 < len(args) {
			value = args[i+1]
			i++
		}
		switch flag {
		case "var", "var-file":
			_ = (&varValue{list: &tf.vars, file: flag == "var-file"}).Set(value)
		case "only":
			tf.only = strings.Split(value, ",")
		case "except":
			tf.except = strings.Split(value, ",")
		}
	}
	defer tf.closePlugins()
	var out, errOut bytes.Buffer
	tpl, err := tf.load(context.Background(), &Streams{Out: &out, Err: &errOut}, path, false)
	if err != nil {
		t.Fatalf("loading %s: %v\n%s", path, err, &errOut)
	}
	plans, diags := tpl.Plans(tf.only, tf.except)
	if diags.HasErrors() {
		t.Fatalf("planning %s: %v", path, diags)
	}
	builders := map[string]plugin.Builder{}
	for _, p := range plans {
		builders[p.Name] = p.Builder
	}
	return builders
}
