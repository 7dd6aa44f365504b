package dockerpush

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// needRegistry skips unless the registry at addr answers with status.
func needRegistry(t *testing.T, addr string, status int) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v2/")
	if err != nil {
		testenv.Unavailable(t, "no registry on "+addr+": "+err.Error())
		return
	}
	resp.Body.Close()
	if resp.StatusCode != status {
		testenv.Unavailable(t, "the registry on "+addr+" answers "+resp.Status)
	}
}

// tagged tags the base image as name and returns a docker-tag artifact.
func tagged(t *testing.T, cli *client.Client, names ...string) plugin.Artifact {
	t.Helper()
	for _, n := range names {
		if err := cli.ImageTag(context.Background(), testenv.BaseImage, n); err != nil {
			t.Fatal(err)
		}
		enginetest.RemoveImage(t, cli, n)
	}
	return &dockerengine.ImageArtifact{BuilderIDValue: dockerengine.BuilderIDTag, Ref: names[len(names)-1], Tags: names}
}

// deleteFromRegistry removes what a test pushed (the registry allows it).
func deleteFromRegistry(t *testing.T, addr, repo, digest, user, password string) {
	t.Cleanup(func() {
		if digest == "" {
			return
		}
		req, _ := http.NewRequest(http.MethodDelete, "http://"+addr+"/v2/"+repo+"/manifests/"+digest, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
}

func TestPushesEveryTagAndPullsBackTheSameImage(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	needRegistry(t, testenv.RegistryAddr, http.StatusOK)
	ctx := context.Background()
	base, _ := cli.ImageInspect(ctx, testenv.BaseImage)
	repo := enginetest.Unique("imgbuild-push-test-")
	name := testenv.RegistryAddr + "/" + repo
	in := tagged(t, cli, name+":a", name+":b")

	p := &PostProcessor{}
	if _, err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	out, keep, _, err := p.PostProcess(ctx, enginetest.Env(&enginetest.UI{T: t}), in)
	if err != nil {
		t.Fatal(err)
	}
	digest := dockerengine.GeneratedOf(out)["Digest"]
	deleteFromRegistry(t, testenv.RegistryAddr, repo, digest, "", "")
	if !keep || !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("keep %v, Digest %q", keep, digest)
	}
	for _, ref := range []string{name + ":a", name + ":b"} {
		if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		rc, err := cli.ImagePull(ctx, ref, image.PullOptions{})
		if err == nil {
			_, err = dockerengine.ReadStream(rc, nil)
			rc.Close()
		}
		if err != nil {
			t.Fatalf("pulling %s back: %v", ref, err)
		}
		info, err := cli.ImageInspect(ctx, ref)
		if err != nil || info.ID != base.ID {
			t.Errorf("%s pulled back as %s, %v; want the pushed image %s", ref, info.ID, err, base.ID)
		}
	}
}

func TestPushToARegistryWithLogin(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	needRegistry(t, enginetest.AuthRegistryAddr, http.StatusUnauthorized)
	ctx := context.Background()
	repo := enginetest.Unique("imgbuild-push-auth-")
	in := tagged(t, cli, enginetest.AuthRegistryAddr+"/"+repo+":1")

	t.Run("without login the error says to log in", func(t *testing.T) {
		p := &PostProcessor{}
		p.Prepare()
		_, _, _, err := p.PostProcess(ctx, enginetest.Env(&enginetest.UI{T: t}), in)
		if err == nil || !strings.Contains(err.Error(), "set login = true") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a wrong password is refused before pushing", func(t *testing.T) {
		p := &PostProcessor{config: Config{Login: true, LoginServer: enginetest.AuthRegistryAddr, LoginUsername: enginetest.AuthRegistryUser, LoginPassword: "wrong-password-x"}}
		p.Prepare()
		ui := &enginetest.UI{T: t}
		_, _, _, err := p.PostProcess(ctx, enginetest.Env(ui), in)
		if err == nil || !strings.Contains(err.Error(), "login_password") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("with login it pushes and the password is never shown", func(t *testing.T) {
		p := &PostProcessor{config: Config{Login: true, LoginServer: enginetest.AuthRegistryAddr, LoginUsername: enginetest.AuthRegistryUser, LoginPassword: enginetest.AuthRegistryPassword}}
		if _, err := p.Prepare(); err != nil {
			t.Fatal(err)
		}
		ui := &enginetest.UI{T: t}
		out, _, _, err := p.PostProcess(ctx, enginetest.Env(ui), in)
		if err != nil {
			t.Fatal(err)
		}
		deleteFromRegistry(t, enginetest.AuthRegistryAddr, repo, dockerengine.GeneratedOf(out)["Digest"], enginetest.AuthRegistryUser, enginetest.AuthRegistryPassword)
		if strings.Contains(ui.Text(), enginetest.AuthRegistryPassword) {
			t.Error("the password was shown")
		}
		// Nothing was written to the user's docker configuration.
		if b, err := os.ReadFile(os.Getenv("HOME") + "/.docker/config.json"); err == nil && strings.Contains(string(b), enginetest.AuthRegistryAddr) {
			t.Error("credentials were stored in ~/.docker/config.json")
		}
	})
}

func TestRefusesAnUnnamedImage(t *testing.T) {
	p := &PostProcessor{}
	_, _, _, err := p.PostProcess(context.Background(), enginetest.Env(&enginetest.UI{T: t}),
		&dockerengine.ImageArtifact{BuilderIDValue: dockerengine.BuilderIDImage, Ref: "sha256:0123"})
	if err == nil || !strings.Contains(err.Error(), "docker-tag") {
		t.Errorf("err = %v", err)
	}
}

// Packer accepts login = true with empty credentials while validating (CI
// fills them at build time) and fails the push instead (issue 11 defect 2).
func TestEmptyLoginCredentialsPassValidationAndFailThePush(t *testing.T) {
	p := &PostProcessor{}
	p.config.Login = true
	if _, err := p.Prepare(); err != nil {
		t.Fatalf("Prepare rejects empty login credentials: %v", err)
	}
	_, _, _, err := p.PostProcess(context.Background(), enginetest.Env(&enginetest.UI{T: t}),
		&dockerengine.ImageArtifact{BuilderIDValue: dockerengine.BuilderIDTag, Ref: "127.0.0.1:5000/imgbuild-never:t"})
	if err == nil || !strings.Contains(err.Error(), "login_username and login_password") {
		t.Errorf("the push with empty credentials: %v", err)
	}
}
