package awsclient

import (
	"context"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// Addresses that are no private ECR registry are refused before any AWS
// call, each with what to do.
func TestECRLoginRefusesAddressesThatAreNotPrivateECR(t *testing.T) {
	for server, want := range map[string]string{
		"registry.example.com:5000":   "<account number>.dkr.ecr.<region>.amazonaws.com",
		"public.ecr.aws":              "aws ecr-public get-login-password",
		"dkr.ecr.us-east-1.amazonaws": "<account number>.dkr.ecr.<region>.amazonaws.com",
	} {
		if _, _, err := ECRLogin(context.Background(), AccessConfig{}, server); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ECRLogin(%q) = %v, want an error saying %q", server, err, want)
		}
	}
}

// The login comes from ECR (moto's) for the account and region in the
// address, in any of the forms templates write it, and its password is
// masked from then on.
func TestECRLoginAsksTheRegistrysAccountAndRegion(t *testing.T) {
	testenv.UseMoto(t)
	for _, server := range []string{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com",
		"https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com:5001/some/repo",
	} {
		user, password, err := ECRLogin(context.Background(), AccessConfig{}, server)
		if err != nil {
			t.Fatalf("ECRLogin(%q): %v", server, err)
		}
		if user != "AWS" || !strings.HasPrefix(password, "123456789012-") {
			t.Errorf("ECRLogin(%q) = %q, %q; want AWS and moto's token for account 123456789012", server, user, password)
		}
		if secret.Mask("pw="+password) == "pw="+password {
			t.Errorf("the ECR password is not masked")
		}
	}
}
