package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/communicator/local"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/template"
)

// copyBuilder is a small real cache-capable builder: its machine is a
// folder, a checkpoint is a copy of that folder in the store's data
// folder, and resuming starts the machine from such a copy.
type copyBuilder struct {
	root  string
	store *cache.Store
	// resumes records the Resume each run got.
	resumes []*plugin.Resume
}

func (b *copyBuilder) Config() any                { return &struct{ Kind string }{"copy"} }
func (b *copyBuilder) Prepare() ([]string, error) { return nil, nil }
func (b *copyBuilder) BaseIdentity(context.Context, plugin.UI) (string, error) {
	return "empty-folder-v1", nil
}

func (b *copyBuilder) HasCheckpoint(_ context.Context, ref string) (bool, error) {
	_, err := os.Stat(ref)
	return err == nil, nil
}

func (b *copyBuilder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	b.resumes = append(b.resumes, env.Resume)
	machine, err := os.MkdirTemp(b.root, "machine-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(machine)
	if env.Resume != nil && env.Resume.Ref != "" {
		if err := os.CopyFS(machine, os.DirFS(env.Resume.Ref)); err != nil {
			return nil, err
		}
	}
	if env.Resume == nil || !env.Resume.Complete {
		comm := &copyComm{Comm: local.Comm{Dir: machine}, store: b.store}
		if err := env.Provision(ctx, comm, plugin.GeneratedData{"ID": machine}); err != nil {
			return nil, err
		}
	}
	// The artifact's content: every file of the machine, for comparison.
	var content []string
	entries, _ := os.ReadDir(machine)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "script_") {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(machine, e.Name()))
		content = append(content, e.Name()+"="+strings.TrimSpace(string(data)))
	}
	return newArtifact(strings.Join(content, ",")), nil
}

type copyComm struct {
	local.Comm
	store *cache.Store
}

func (c *copyComm) Checkpoint(_ context.Context, key string) (string, int64, error) {
	dst := c.store.DataPath(cache.Key(key), ".dir")
	os.RemoveAll(dst)
	return dst, 0, os.CopyFS(dst, os.DirFS(c.Dir))
}

// opaquePlan is a provisioner that does not say which files it reads.
func opaquePlan() *template.ProvisionerPlan {
	return &template.ProvisionerPlan{
		Type: "opaque",
		Configure: func(plugin.GeneratedData) (plugin.Provisioner, hcl.Diagnostics) {
			return &testPP2{}, nil
		},
	}
}

type testPP2 struct{}

func (p *testPP2) Config() any                { return p }
func (p *testPP2) Prepare() ([]string, error) { return nil, nil }
func (p *testPP2) Provision(ctx context.Context, env *plugin.ProvisionEnv) error {
	return nil
}

// cachedBuild runs one build of the steps with -cache. A step "x=v"
// writes v to the machine's file x and appends x to ran.log beside the
// machines; "x=v!" then fails; "opaque" does not name its inputs.
func cachedBuild(t *testing.T, b *copyBuilder, store *cache.Store, steps ...string) (out, ranSteps string, res Result) {
	t.Helper()
	log := filepath.Join(b.root, "ran.log")
	os.Remove(log)
	var provs []*template.ProvisionerPlan
	for _, s := range steps {
		if s == "opaque" {
			provs = append(provs, opaquePlan())
			continue
		}
		name, _, _ := strings.Cut(s, "=")
		cmds := []string{"echo " + name + " >> " + log, "echo '" + s + "' > " + name}
		if strings.HasSuffix(s, "!") { // a step that fails
			cmds = append(cmds, "exit 1")
		}
		provs = append(provs, shellPlan(cmds...))
	}
	plan := &template.BuildPlan{Name: "test.c", SourceType: "copy", SourceName: "c", Builder: b, Provisioners: provs}
	buf := &syncBuffer{}
	res = runner(buf, func(o *Options) { o.Cache = store; o.Template = "t.pkr.hcl" }).Run(context.Background(), []*template.BuildPlan{plan})[0]
	data, _ := os.ReadFile(log)
	return buf.String(), strings.Join(strings.Fields(string(data)), " "), res
}

func TestCacheRunsOnlyChangedStepsAndResumesAtAFailedOne(t *testing.T) {
	store, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := &copyBuilder{root: t.TempDir(), store: store}
	for _, c := range []struct {
		name     string
		steps    []string
		wantRan  string
		wantFail bool
		complete bool
		content  string
	}{
		{name: "cold build runs every step", steps: []string{"a=1", "b=1", "c=1"}, wantRan: "a b c", content: "a=a=1,b=b=1,c=c=1"},
		{name: "unchanged rebuild runs none", steps: []string{"a=1", "b=1", "c=1"}, wantRan: "", complete: true, content: "a=a=1,b=b=1,c=c=1"},
		{name: "changed last step runs alone", steps: []string{"a=1", "b=1", "c=2"}, wantRan: "c", content: "a=a=1,b=b=1,c=c=2"},
		{name: "changed middle step runs with the later ones", steps: []string{"a=1", "b=2", "c=2"}, wantRan: "b c", content: "a=a=1,b=b=2,c=c=2"},
		{name: "failing step keeps the earlier checkpoints", steps: []string{"a=1", "b=3", "c=2!"}, wantRan: "b c", wantFail: true},
		{name: "fixed step resumes where it failed", steps: []string{"a=1", "b=3", "c=3"}, wantRan: "c", content: "a=a=1,b=b=3,c=c=3"},
	} {
		out, ran, res := cachedBuild(t, b, store, c.steps...)
		if ran != c.wantRan {
			t.Errorf("%s: steps that ran = %q, want %q\n%s", c.name, ran, c.wantRan, out)
		}
		if (res.Err != nil) != c.wantFail {
			t.Errorf("%s: err = %v\n%s", c.name, res.Err, out)
		}
		last := b.resumes[len(b.resumes)-1]
		if got := last != nil && last.Complete; got != c.complete {
			t.Errorf("%s: Resume.Complete = %v, want %v", c.name, got, c.complete)
		}
		if c.content != "" && (len(res.Artifacts) == 0 || res.Artifacts[0].ID() != c.content) {
			t.Errorf("%s: machine content = %v, want %q\n%s", c.name, res.Artifacts, c.content, out)
		}
		if restored := 3 - len(strings.Fields(c.wantRan)); !c.wantFail && strings.Count(out, "restored from cache") != restored {
			t.Errorf("%s: output does not say %d steps were restored:\n%s", c.name, restored, out)
		}
	}
	entries, _ := store.List()
	if len(entries) == 0 || entries[0].Template != "t.pkr.hcl" || entries[0].Build != "test.c" || entries[0].Step != 1 || entries[0].Builder != "copy" {
		t.Errorf("cache entries do not describe their build: %+v", entries)
	}
}

func TestCacheEndsBeforeAProvisionerThatDoesNotNameItsInputs(t *testing.T) {
	store, _ := cache.Open(t.TempDir())
	b := &copyBuilder{root: t.TempDir(), store: store}
	cachedBuild(t, b, store, "a=1", "opaque", "c=1")
	out, ran, _ := cachedBuild(t, b, store, "a=1", "opaque", "c=1")
	if ran != "c" || !strings.Contains(out, "provisioner 2 (opaque) does not say which local files it reads") {
		t.Errorf("steps that ran = %q, want the ones after the opaque provisioner:\n%s", ran, out)
	}
	if entries, _ := store.List(); len(entries) != 1 {
		t.Errorf("%d checkpoints, want 1 (only before the opaque provisioner)", len(entries))
	}
}

func TestCacheTreatsAVanishedCheckpointAsAMiss(t *testing.T) {
	store, _ := cache.Open(t.TempDir())
	b := &copyBuilder{root: t.TempDir(), store: store}
	cachedBuild(t, b, store, "a=1", "b=1")
	entries, _ := store.List()
	for _, e := range entries {
		if e.Step == 2 {
			os.RemoveAll(e.Ref) // as if removed by hand
		}
	}
	out, ran, res := cachedBuild(t, b, store, "a=1", "b=1")
	if ran != "b" || res.Err != nil || !strings.Contains(out, "is gone") {
		t.Errorf("steps that ran = %q (err %v), want b after its checkpoint vanished:\n%s", ran, res.Err, out)
	}
}

func TestWithoutCacheTheBuilderIsNotAskedForItsBase(t *testing.T) {
	b := &copyBuilder{root: t.TempDir()}
	plan := &template.BuildPlan{Name: "test.c", SourceType: "copy", Builder: b, Provisioners: []*template.ProvisionerPlan{shellPlan("true")}}
	buf := &syncBuffer{}
	res := runner(buf, nil).Run(context.Background(), []*template.BuildPlan{plan})[0]
	if res.Err != nil || len(b.resumes) != 1 || b.resumes[0] != nil || strings.Contains(buf.String(), "cache") {
		t.Errorf("a build without -cache used the cache: err %v resumes %v\n%s", res.Err, b.resumes, buf)
	}
}

// Only the digest a base identity starts with goes into cache entries,
// which the shared cache's readers see.
func TestEntriesRecordOnlyTheDigestABaseIdentityStartsWith(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for identity, want := range map[string]string{
		digest:                   digest,
		digest + " volumes:0123": digest,
		digest + " files:4567":   digest,
		"file:https://user:token@example.com/SHA256SUMS files:89": "",
		"md5:" + strings.Repeat("ab", 16):                         "",
		"sha256:" + strings.Repeat("ab", 31):                      "",
	} {
		if got := baseDigest(identity); got != want {
			t.Errorf("baseDigest(%q) = %q, want %q", identity, got, want)
		}
	}
}

// drawnPP is a provisioner with a fixed option and one whose default is
// drawn anew each time it is configured (from draws, in turn).
type drawnPP struct {
	Fixed string
	Drawn string
}

func (p *drawnPP) Config() any                { return p }
func (p *drawnPP) Prepare() ([]string, error) { return nil, nil }
func (p *drawnPP) InputFiles() []string       { return nil }
func (p *drawnPP) Provision(context.Context, *plugin.ProvisionEnv) error {
	return nil
}

func TestTheKeyLeavesOutARandomDefaultEvenWhenTwoDrawsAgree(t *testing.T) {
	for name, tc := range map[string]struct {
		draws     []string
		keepDrawn bool
	}{
		"two draws agree, the third does not": {[]string{"script_42.sh", "script_42.sh", "script_7.sh"}, false},
		"the first differs":                   {[]string{"script_1.sh", "script_42.sh", "script_42.sh"}, false},
		"not random: a constant stays":        {[]string{"setup.sh", "setup.sh", "setup.sh"}, true},
	} {
		t.Run(name, func(t *testing.T) {
			n := 0
			pp := &template.ProvisionerPlan{Type: "drawn", Configure: func(plugin.GeneratedData) (plugin.Provisioner, hcl.Diagnostics) {
				p := &drawnPP{Fixed: "f", Drawn: tc.draws[n%len(tc.draws)]}
				n++
				return p, nil
			}}
			config, _, why := provisionerKeyInput(pp, plugin.GeneratedData{})
			if why != "" {
				t.Fatal(why)
			}
			if !strings.Contains(string(config), `"Fixed":"f"`) {
				t.Errorf("key input %s lacks the fixed option", config)
			}
			if got := strings.Contains(string(config), "Drawn"); got != tc.keepDrawn {
				t.Errorf("key input %s: drawn option kept %v, want %v", config, got, tc.keepDrawn)
			}
		})
	}
}
