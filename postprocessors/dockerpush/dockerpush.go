package dockerpush

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
)

func init() {
	plugin.RegisterPostProcessor("docker-push", func() plugin.PostProcessor { return &PostProcessor{} })
}

// Config holds Packer's docker-push options.
type Config struct {
	Login                bool   `hcl:"login,optional"`
	LoginUsername        string `hcl:"login_username,optional"`
	LoginPassword        string `hcl:"login_password,optional"`
	LoginServer          string `hcl:"login_server,optional"`
	EcrLogin             bool   `hcl:"ecr_login,optional"`
	AWSForceUsePublicECR bool   `hcl:"aws_force_use_public_ecr,optional"`
	Platform             string `hcl:"platform,optional"`
	awsclient.ECRAccess
}

// PostProcessor pushes images.
type PostProcessor struct{ config Config }

func (p *PostProcessor) Config() any { return &p.config }

func (p *PostProcessor) Prepare() ([]string, error) {
	c := &p.config
	secret.Add(c.LoginPassword, c.SecretKey, c.Token)
	var errs []error
	if c.EcrLogin && c.LoginServer == "" {
		errs = append(errs, errors.New("ecr_login needs login_server (the ECR registry address)"))
	}
	// Empty login_username/login_password pass here, as in Packer: CI
	// often fills them only when the build runs; the push says so.
	return nil, errors.Join(errs...)
}

// PostProcess pushes the artifact's name and every tag docker-tag made.
// Credentials go with each push request; nothing is written to the
// user's docker configuration, so there is nothing to log out of.
func (p *PostProcessor) PostProcess(ctx context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	if err := dockerengine.Accepts(in, "docker-push", "an image named by docker-tag or docker-import",
		dockerengine.BuilderIDImage, dockerengine.BuilderIDTag); err != nil {
		return nil, false, false, err
	}
	names := dedupe(append([]string{in.ID()}, dockerengine.TagsOf(in)...))
	for _, n := range names {
		if _, err := reference.ParseNormalizedNamed(n); err != nil || strings.HasPrefix(n, "sha256:") {
			return nil, false, false, fmt.Errorf("docker-push: %q is not a name a registry takes: put a docker-tag post-processor (repository = \"REGISTRY/NAME\") before docker-push", n)
		}
	}
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return nil, false, false, err
	}
	defer cli.Close()

	login := dockerengine.Login{Enabled: p.config.Login, Server: p.config.LoginServer, Username: p.config.LoginUsername, Password: p.config.LoginPassword}
	if p.config.EcrLogin {
		server := p.config.LoginServer
		if p.config.AWSForceUsePublicECR {
			server = "public.ecr.aws"
		}
		env.UI.Message("Fetching ECR credentials...")
		user, password, err := awsclient.ECRLogin(ctx, p.config.ECRAccess.AccessConfig(), server)
		if err != nil {
			return nil, false, false, fmt.Errorf("docker-push: %w", err)
		}
		login = dockerengine.Login{Enabled: true, Server: p.config.LoginServer, Username: user, Password: password}
	}
	if login.Enabled && (login.Username == "" || login.Password == "") {
		return nil, false, false, errors.New("docker-push: login = true needs login_username and login_password, and at least one is empty")
	}
	if login.Enabled {
		env.UI.Message("Logging in...")
		if err := login.Check(ctx, cli); err != nil {
			return nil, false, false, err
		}
	}
	auth, err := login.RegistryAuth()
	if err != nil {
		return nil, false, false, err
	}
	for _, name := range names {
		env.UI.Message("Pushing: " + name)
		rc, err := cli.ImagePush(ctx, name, image.PushOptions{RegistryAuth: auth})
		if err == nil {
			_, err = dockerengine.ReadStream(rc, env.UI.Message)
			rc.Close()
		}
		if err != nil {
			return nil, false, false, fmt.Errorf("pushing %s: %s%s", name, secret.Mask(err.Error()), authAdvice(err, login))
		}
	}
	generated := dockerengine.GeneratedOf(in)
	generated["Digest"] = digest(ctx, env, cli, names[0])
	return &dockerengine.ImageArtifact{
		BuilderIDValue: dockerengine.BuilderIDImage, // Packer's choice for pushed images
		Ref:            names[0],
		Tags:           dockerengine.TagsOf(in),
		Generated:      generated,
	}, true, false, nil
}

// digest returns the registry digest of the pushed name, "" if unknown.
func digest(ctx context.Context, env *plugin.PostProcessEnv, cli *client.Client, name string) string {
	info, err := cli.ImageInspect(ctx, name)
	if err != nil {
		env.UI.Message("Unable to determine the pushed image's digest: " + err.Error())
		return ""
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return ""
	}
	for _, rd := range info.RepoDigests {
		repo, d, ok := strings.Cut(rd, "@")
		if ok && (repo == reference.FamiliarName(named) || repo == named.Name()) {
			return d
		}
	}
	return ""
}

func authAdvice(err error, l dockerengine.Login) string {
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "auth") || strings.Contains(msg, "denied") || strings.Contains(msg, "401") {
		if !l.Enabled {
			return " (the registry wants credentials: set login = true, login_server, login_username and login_password)"
		}
		return " (check login_username and login_password)"
	}
	return ""
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
