package amazonami

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// In imgbuild console the function reads the emulator's secret; the
// console masks the value itself, so its length proves it was read.
func TestConsoleEvaluatesAWSSecretsManagerAgainstTheEmulator(t *testing.T) {
	cfg := testenv.MotoConfig(t)
	bin := testenv.Binary(t)
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(cfg)
	name := "imgbuild-console-" + uuid.NewString()[:8]
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(`{"token":"0123456789abcdef"}`)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	cmd := exec.Command(bin, "console")
	cmd.Stdin = strings.NewReader(`length(aws_secretsmanager("` + name + `", "token"))` + "\n" + `aws_secretsmanager("` + name + `", "token")` + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imgbuild console: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || lines[0] != "16" {
		t.Fatalf("console printed %q, want the secret's length 16 first", out)
	}
	if strings.Contains(string(out), "0123456789abcdef") {
		t.Errorf("the secret was printed: %s", out)
	}
}
