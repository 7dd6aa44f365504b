package dockerpush

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// ecr_login: docker-push asks ECR (moto's) for the login of login_server,
// checks it with the registry, pushes, and never shows it.
func TestPushToECRWithECRLogin(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	testenv.UseMoto(t)
	enginetest.NeedECRRegistry(t)
	needRegistry(t, enginetest.ECRRegistryAddr, http.StatusUnauthorized)
	ctx := context.Background()
	repo := enginetest.Unique("imgbuild-ecr-push-")
	in := tagged(t, cli, enginetest.ECRRegistryAddr+"/"+repo+":1")
	p := &PostProcessor{config: Config{EcrLogin: true, LoginServer: enginetest.ECRRegistryAddr}}
	if _, err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	ui := &enginetest.UI{T: t}
	out, _, _, err := p.PostProcess(ctx, enginetest.Env(ui), in)
	if err != nil {
		t.Fatal(err)
	}
	digest := dockerengine.GeneratedOf(out)["Digest"]
	deleteFromRegistry(t, enginetest.ECRRegistryAddr, repo, digest, enginetest.ECRRegistryUser, enginetest.ECRRegistryPassword)
	if !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("Digest %q, want the pushed manifest's", digest)
	}
	if strings.Contains(ui.Text(), enginetest.ECRRegistryPassword) {
		t.Error("the ECR password was shown")
	}

	t.Run("public ECR is refused with what to do", func(t *testing.T) {
		p := &PostProcessor{config: Config{EcrLogin: true, AWSForceUsePublicECR: true, LoginServer: enginetest.ECRRegistryAddr}}
		p.Prepare()
		_, _, _, err := p.PostProcess(ctx, enginetest.Env(&enginetest.UI{T: t}), in)
		if err == nil || !strings.Contains(err.Error(), "aws ecr-public get-login-password") {
			t.Errorf("err = %v", err)
		}
	})
}
