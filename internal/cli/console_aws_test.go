package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

const xenialFilter = "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"

// Console executes data sources and service functions, as a build does:
// data.amazon-ami.* is the emulator's newest matching AMI, and
// aws_secretsmanager reads the emulator's secret. The secret stays masked
// when printed; its hash proves the console saw the real value.
func TestConsoleExecutesDataSourcesAndSecretsManagerAgainstTheEmulator(t *testing.T) {
	cfg := testenv.MotoConfig(t)
	ctx := context.Background()

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

// The amazon plugin's amazon-secretsmanager data source is built in: a
// template that uses it builds without the plugin installed. The value
// reaches the build (the file builder writes it), and it, and a value
// computed from it inside a longer command, stay masked in the output.
func TestAmazonSecretsManagerDataSourceFeedsABuildAndStaysMasked(t *testing.T) {
	cfg := testenv.MotoConfig(t)
	ctx := context.Background()
	secretName := "imgbuild-cli-ds-" + uuid.NewString()[:8]
	sm := secretsmanager.NewFromConfig(cfg)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(secretName), SecretString: aws.String(`{"db_password":"sm-pw-6a1f2e","db_user":"app"}`),
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(secretName), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})

	dir := t.TempDir()
	tpl := `
packer {
  required_plugins {
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}
data "amazon-secretsmanager" "db" {
  name = "` + secretName + `"
  key  = "db_password"
}
source "file" "conf" {
  content = "password=${data.amazon-secretsmanager.db.value}\n"
  target  = "` + dir + `/app.conf"
}
build {
  sources = ["source.file.conf"]
  provisioner "shell-local" {
    inline = ["echo password ${data.amazon-secretsmanager.db.value}", "echo upper ${upper(data.amazon-secretsmanager.db.value)} done"]
  }
}
`
	path := filepath.Join(dir, "t.pkr.hcl")
	if err := os.WriteFile(path, []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	// No plugin is installed: an empty plugin folder.
	t.Setenv("PACKER_PLUGIN_PATH", t.TempDir())
	out, err := exec.Command(testenv.Binary(t), "build", path).CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "app.conf")); string(b) != "password=sm-pw-6a1f2e\n" {
		t.Errorf("the file builder wrote %q, want the secret's value", b)
	}
	for _, leaked := range []string{"sm-pw-6a1f2e", "SM-PW-6A1F2E"} {
		if strings.Contains(string(out), leaked) {
			t.Errorf("the output shows the secret %q:\n%s", leaked, out)
		}
	}
	if !strings.Contains(string(out), "password <sensitive>") || !strings.Contains(string(out), "upper <sensitive> done") {
		t.Errorf("the output lacks the masked values:\n%s", out)
	}
}
