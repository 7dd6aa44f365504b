package docker

import (
	"context"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// ecr_login: the builder asks ECR (moto's) for the registry's login and
// pulls with it, ignoring login_username and login_password as Packer
// does; the login never shows. A login_server that is no ECR address is
// refused with the form it should have.
func TestPullsTheBaseImageWithECRLogin(t *testing.T) {
	cli := needEngine(t)
	testenv.UseMoto(t)
	enginetest.NeedECRRegistry(t)
	ctx := context.Background()
	pushed := testenv.Registry{Addr: enginetest.ECRRegistryAddr, Repo: enginetest.Unique("imgbuild-ecr-pull-"),
		User: enginetest.ECRRegistryUser, Password: enginetest.ECRRegistryPassword}
	t.Cleanup(func() {
		if err := pushed.Empty(); err != nil {
			t.Errorf("deleting the test's image from the registry: %v", err)
		}
	})
	ref := pushed.Name() + ":1"
	ecrLogin := dockerengine.Login{Enabled: true, Server: enginetest.ECRRegistryAddr, Username: enginetest.ECRRegistryUser, Password: enginetest.ECRRegistryPassword}
	auth, _ := ecrLogin.RegistryAuth()
	if err := cli.ImageTag(ctx, testenv.BaseImage, ref); err != nil {
		t.Fatal(err)
	}
	removeImage(t, cli, ref)
	rc, err := cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err == nil {
		_, err = dockerengine.ReadStream(rc, nil)
		rc.Close()
	}
	if err != nil {
		t.Fatalf("pushing the base image for the test: %v", err)
	}

	pull := true
	t.Run("not an ECR address", func(t *testing.T) {
		b := prepared(t, func(c *Config) {
			c.Discard, c.Pull, c.Image = true, &pull, ref
			c.EcrLogin, c.LoginServer = true, enginetest.AuthRegistryAddr
		})
		_, _, err := build(ctx, t, b, newTestUI(t), false, nil)
		if err == nil || !strings.Contains(err.Error(), "<account number>.dkr.ecr.<region>.amazonaws.com") {
			t.Errorf("err = %v, want the ECR address form", err)
		}
	})
	t.Run("pulls with the login ECR gives", func(t *testing.T) {
		if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		b := prepared(t, func(c *Config) {
			c.Discard, c.Pull, c.Image = true, &pull, ref
			c.EcrLogin, c.LoginServer = true, "https://"+enginetest.ECRRegistryAddr
			c.Login, c.LoginUsername, c.LoginPassword = true, "ignored", "ignored-password"
		})
		ui := newTestUI(t)
		if _, _, err := build(ctx, t, b, ui, false, nil); err != nil {
			t.Fatalf("build: %v", err)
		}
		if _, err := cli.ImageInspect(ctx, ref); err != nil {
			t.Errorf("the image was not pulled: %v", err)
		}
		if !strings.Contains(ui.Text(), "Fetching ECR credentials") || strings.Contains(ui.Text(), enginetest.ECRRegistryPassword) {
			t.Errorf("the output does not say it fetched ECR credentials, or shows the password:\n%s", ui.Text())
		}
	})
}
