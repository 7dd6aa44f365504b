package docker

import (
	"context"
	"strings"
	"testing"

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
	ecrLogin := dockerengine.Login{Enabled: true, Server: enginetest.ECRRegistryAddr, Username: enginetest.ECRRegistryUser, Password: enginetest.ECRRegistryPassword}
	ref := pushedBase(t, cli, ecrLogin, "imgbuild-ecr-pull-")

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
