package e2e

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestHelloExampleInEveryFormatBuildsTheSameImage builds examples/
// hello.pkr.hcl, its legacy twin hello.json, and what hcl2_upgrade makes
// of hello.json: the three images print the same and carry the same
// configuration (ENV, WORKDIR, LABEL, CMD).
func TestHelloExampleInEveryFormatBuildsTheSameImage(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	examples := filepath.Join(testenv.RepoRoot(), "examples")
	// The upgraded template goes beside a copy of hello.json, as a user's
	// would: path.root (files/) is its folder.
	scratch := t.TempDir()
	if err := os.CopyFS(scratch, os.DirFS(examples)); err != nil {
		t.Fatal(err)
	}
	upgraded := filepath.Join(scratch, "hello.upgraded.pkr.hcl")
	if r := imgbuild(t, nil, "hcl2_upgrade", "-output-file", upgraded, filepath.Join(scratch, "hello.json")); r.code != 0 {
		t.Fatalf("hcl2_upgrade:\n%s", r)
	}
	type result struct {
		out                       string
		env, cmd, labels, workdir any
	}
	results := map[string]result{}
	for name, tmpl := range map[string]string{
		"hcl2":     filepath.Join(examples, "hello.pkr.hcl"),
		"json":     filepath.Join(examples, "hello.json"),
		"upgraded": upgraded,
	} {
		repo := enginetest.Unique("imgbuild-e2e-hello-" + name + "-")
		removeImage(t, cli, repo+":latest")
		r := imgbuild(t, nil, "build", "-var", "repository="+repo, tmpl)
		if r.code != 0 {
			t.Fatalf("%s build failed:\n%s", name, r)
		}
		noContainersLeft(t, cli, "hello", r.stdout)
		info, err := cli.ImageInspect(context.Background(), repo+":latest")
		if err != nil {
			t.Fatal(err)
		}
		results[name] = result{dockerRun(t, repo+":latest"), info.Config.Env, info.Config.Cmd, info.Config.Labels, info.Config.WorkingDir}
	}
	if results["hcl2"].out == "" {
		t.Fatal("the HCL2 image printed nothing")
	}
	for _, name := range []string{"json", "upgraded"} {
		if !reflect.DeepEqual(results[name], results["hcl2"]) {
			t.Errorf("%s image differs from the HCL2 one:\n%+v\n%+v", name, results[name], results["hcl2"])
		}
	}
}
