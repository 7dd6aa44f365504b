package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

const xenialFilter = "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"

// Console executes data sources and service functions, as a build does:
// data.amazon-ami.* is the emulator's newest matching AMI, and
// aws_secretsmanager reads the emulator's secret. The secret stays masked
// when printed; its hash proves the console saw the real value.
func TestConsoleExecutesDataSourcesAndSecretsManagerAgainstTheEmulator(t *testing.T) {
	testenv.UseMoto(t)
	ctx := context.Background()
	var access awsclient.AccessConfig
	cfg, err := access.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	images, err := ec2.NewFromConfig(cfg).DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"099720109477"},
		Filters: []ec2types.Filter{{Name: aws.String("name"), Values: []string{xenialFilter}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(images.Images) == 0 {
		t.Fatalf("moto has no image named %s", xenialFilter)
	}
	newest := images.Images[0]
	for _, im := range images.Images[1:] {
		if aws.ToString(im.CreationDate) > aws.ToString(newest.CreationDate) {
			newest = im
		}
	}

	const value = "console-secret-7f3a9c"
	name := "imgbuild-cli-console-" + uuid.NewString()[:8]
	sm := secretsmanager.NewFromConfig(cfg)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(`{"token":"` + value + `"}`),
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})

	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": `
data "amazon-ami" "xenial" {
  filters = {
    name                = "` + xenialFilter + `"
    virtualization-type = "hvm"
  }
  owners      = ["099720109477"]
  most_recent = true
}
locals {
  token = aws_secretsmanager("` + name + `", "token")
}
`})
	sum := sha256.Sum256([]byte(value))
	tests := []struct {
		expr, want string
	}{
		{"data.amazon-ami.xenial.id", aws.ToString(newest.ImageId)},
		{"data.amazon-ami.xenial.name", aws.ToString(newest.Name)},
		{"data.amazon-ami.xenial.owner", "099720109477"},
		{"sha256(local.token)", hex.EncodeToString(sum[:])},
		{`sha256(aws_secretsmanager("` + name + `", "token"))`, hex.EncodeToString(sum[:])},
	}
	var in strings.Builder
	for _, tc := range tests {
		in.WriteString(tc.expr + "\n")
	}
	in.WriteString("local.token\n")
	code, out, errOut := run(t, in.String(), "console", dir)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(tests)+1 {
		t.Fatalf("console printed %d lines, want %d:\n%s", len(lines), len(tests)+1, out)
	}
	for i, tc := range tests {
		if lines[i] != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, lines[i], tc.want)
		}
	}
	if strings.Contains(out+errOut, value) {
		t.Errorf("the secret's value was printed:\n%s%s", out, errOut)
	}
}
