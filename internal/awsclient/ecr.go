package awsclient

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// ecrServer is a private ECR registry's address, with the account and the
// region in it: <account>.dkr.ecr.<region>.amazonaws.com[.cn], perhaps
// with a scheme, a port or a path, as the docker plugin reads login_server.
var ecrServer = regexp.MustCompile(`^(?:https?://)?(\d+)\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?(?::\d+)?(?:/.*)?$`)

// ECRAccess is the credentials of the docker builder's and docker-push's
// ecr_login; unset ones come from the standard AWS chain.
type ECRAccess struct {
	AccessKey string `hcl:"aws_access_key,optional"`
	SecretKey string `hcl:"aws_secret_key,optional"`
	Token     string `hcl:"aws_token,optional"`
	Profile   string `hcl:"aws_profile,optional"`
}

// AccessConfig is a as the AWS clients take it.
func (a ECRAccess) AccessConfig() AccessConfig {
	return AccessConfig{AccessKey: a.AccessKey, SecretKey: a.SecretKey, Token: a.Token, Profile: a.Profile}
}

// ECRLogin asks ECR for the docker login of the private registry at server
// (ecr_login), with the credentials of access and the standard chain.
// The password is a secret from then on.
func ECRLogin(ctx context.Context, access AccessConfig, server string) (user, password string, err error) {
	if strings.Contains(server, "public.ecr.aws") {
		return "", "", fmt.Errorf("ecr_login: %s is ECR Public, which imgbuild cannot log in to yet: pull from it without logging in, or get a password with `aws ecr-public get-login-password --region us-east-1` and set login = true, login_username = \"AWS\" and login_password", server)
	}
	m := ecrServer.FindStringSubmatch(server)
	if m == nil {
		return "", "", fmt.Errorf("ecr_login: login_server %q is not an ECR registry address: it should be <account number>.dkr.ecr.<region>.amazonaws.com", server)
	}
	account, region := m[1], m[2]
	cfg, err := access.Load(ctx, region)
	if err != nil {
		return "", "", fmt.Errorf("ecr_login: %w", err)
	}
	out, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{RegistryIds: []string{account}})
	if err != nil {
		return "", "", fmt.Errorf("ecr_login: getting a login for %s from ECR in %s: %w", server, region, Explain(err))
	}
	if len(out.AuthorizationData) == 0 {
		return "", "", fmt.Errorf("ecr_login: ECR in %s gave no login for account %s", region, account)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	user, password, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok {
		return "", "", fmt.Errorf("ecr_login: ECR in %s answered with a token that is not base64 user:password", region)
	}
	secret.Add(password)
	return user, password, nil
}
