package dockertag

import (
	"context"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func prepared(t *testing.T, c Config) *PostProcessor {
	t.Helper()
	p := &PostProcessor{config: c}
	if _, err := p.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return p
}

func TestTagsTheImageWithEveryTagAndAlwaysKeepsTheInput(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	ctx := context.Background()
	base, err := cli.ImageInspect(ctx, testenv.BaseImage)
	if err != nil {
		t.Fatal(err)
	}
	repo := enginetest.Unique("imgbuild-tag-test-")
	enginetest.RemoveImage(t, cli, repo+":one")
	enginetest.RemoveImage(t, cli, repo+":two")
	p := prepared(t, Config{Repository: repo, Tags: []string{"one"}, Tag: []string{"two"}})
	in := &dockerengine.ImageArtifact{BuilderIDValue: dockerengine.BuilderIDImage, Ref: base.ID, Generated: plugin.GeneratedData{"ID": "c1"}}
	out, keep, forceKeep, err := p.PostProcess(ctx, enginetest.Env(&enginetest.UI{T: t}), in)
	if err != nil {
		t.Fatal(err)
	}
	if !keep || !forceKeep {
		t.Errorf("keep, forceKeep = %v, %v; the tagged image must always be kept", keep, forceKeep)
	}
	if out.BuilderID() != dockerengine.BuilderIDTag || out.ID() != repo+":two" {
		t.Errorf("artifact = %s %s, want the last tag", out.BuilderID(), out.ID())
	}
	if got := strings.Join(dockerengine.TagsOf(out), ","); got != repo+":one,"+repo+":two" {
		t.Errorf("docker_tags = %s", got)
	}
	if dockerengine.GeneratedOf(out)["ID"] != "c1" {
		t.Error("generated data was not passed on")
	}
	for _, ref := range []string{repo + ":one", repo + ":two"} {
		info, err := cli.ImageInspect(ctx, ref)
		if err != nil || info.ID != base.ID {
			t.Errorf("%s: %v (id %s, want %s)", ref, err, info.ID, base.ID)
		}
	}
}

func TestRefusesArtifactsThatAreNotImages(t *testing.T) {
	p := prepared(t, Config{Repository: "x/y"})
	_, _, _, err := p.PostProcess(context.Background(), enginetest.Env(&enginetest.UI{T: t}), &dockerengine.FileArtifact{Path: "a.tar"})
	if err == nil || !strings.Contains(err.Error(), dockerengine.BuilderIDExport) || !strings.Contains(err.Error(), "commit = true") {
		t.Errorf("err = %v, want it to name the artifact type and what is accepted", err)
	}
}

// Prepare checks only that a repository is set; names are checked when
// the image is tagged, as Packer leaves them to the engine (issue 11
// defect 5: "alpine/latest" as a tag passes validate there).
func TestPrepareLeavesNamesToTheTagStep(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"registry, path and tags", Config{Repository: "127.0.0.1:5000/team/app", Tags: []string{"1.0", "latest"}}, ""},
		{"no repository", Config{}, "repository must be set"},
		{"upper case repository", Config{Repository: "Team/App"}, ""},
		{"a tag with a slash", Config{Repository: "app", Tags: []string{"alpine/latest"}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &PostProcessor{config: c.cfg}
			_, err := p.Prepare()
			if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestBadNamesFailTheTagStepWithWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Repository: "Team/App"}, "not a valid image name"},
		{Config{Repository: "app", Tags: []string{"alpine/latest"}}, `tag "alpine/latest"`},
	} {
		p := prepared(t, c.cfg)
		_, _, _, err := p.PostProcess(context.Background(), enginetest.Env(&enginetest.UI{T: t}),
			&dockerengine.ImageArtifact{BuilderIDValue: dockerengine.BuilderIDImage, Ref: "sha256:0123"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.cfg, err, c.want)
		}
	}
}
