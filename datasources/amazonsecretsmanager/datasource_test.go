package amazonsecretsmanager

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/sensitive"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newSecret makes a secret in the emulator (removed with the test) and
// returns its name and the version id of its first value.
func newSecret(t *testing.T, sm *secretsmanager.Client, in *secretsmanager.CreateSecretInput) (string, string) {
	t.Helper()
	name := "imgbuild-test-" + uuid.NewString()[:8]
	in.Name = aws.String(name)
	out, err := sm.CreateSecret(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	return name, aws.ToString(out.VersionId)
}

func TestReadsTheKeyAndTheVersionAskedForAndMarksThemSensitive(t *testing.T) {
	awsCfg := testenv.MotoConfig(t)
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(awsCfg)
	name, first := newSecret(t, sm, &secretsmanager.CreateSecretInput{SecretString: aws.String(`{"password":"old-pw-4471","port":5432}`)})
	// The new value becomes AWSCURRENT; the first is AWSPREVIOUS.
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(`{"password":"new-pw-9183","port":5432}`)}); err != nil {
		t.Fatal(err)
	}
	binName, _ := newSecret(t, sm, &secretsmanager.CreateSecretInput{SecretBinary: []byte{0, 1, 2, 250}})

	for _, tt := range []struct {
		name    string
		cfg     Config
		want    string // value
		wantErr string
	}{
		{"the current version's key", Config{Name: name, Key: "password"}, "new-pw-9183", ""},
		{"a number, as its JSON text", Config{Name: name, Key: "port"}, "5432", ""},
		{"version_stage", Config{Name: name, Key: "password", VersionStage: "AWSPREVIOUS"}, "old-pw-4471", ""},
		{"version_id wins over version_stage", Config{Name: name, Key: "password", VersionID: first, VersionStage: "AWSCURRENT"}, "old-pw-4471", ""},
		{"no key of a secret with several", Config{Name: name}, "", "name the one you want"},
		{"a missing key", Config{Name: name, Key: "user"}, "", `no key "user" (it has password, port)`},
		{"a missing secret", Config{Name: "imgbuild-test-none-" + uuid.NewString()[:8]}, "", "does not exist in us-east-1"},
		{"a binary secret", Config{Name: binName}, "", ""},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			d := &DataSource{}
			*d.Config().(*Config) = tt.cfg
			if _, err := d.Prepare(); err != nil {
				t.Fatal(err)
			}
			v, err := d.Execute(ctx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Execute = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !v.Type().Equals(d.OutputType()) {
				t.Fatalf("value type %s differs from OutputType %s", v.Type().FriendlyName(), d.OutputType().FriendlyName())
			}
			value, _ := v.GetAttr("value").Unmark()
			if value.AsString() != tt.want {
				t.Errorf("value = %q, want %q", value.AsString(), tt.want)
			}
			for _, attr := range []string{"value", "secret_string", "secret_binary"} {
				if !sensitive.Has(v.GetAttr(attr)) {
					t.Errorf("%s is not marked sensitive", attr)
				}
			}
			if tt.want != "" {
				if m := secret.Mask("value " + tt.want); strings.Contains(m, tt.want) {
					t.Errorf("the value is not masked in output: %q", m)
				}
			}
			if tt.cfg.Name == binName {
				bin, _ := v.GetAttr("secret_binary").Unmark()
				if bin.AsString() != base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 250}) {
					t.Errorf("secret_binary = %q, want the bytes in base64", bin.AsString())
				}
			}
			if v.GetAttr("version_id").AsString() == "" {
				t.Error("version_id is empty")
			}
		})
	}
}

func TestPrepareRequiresAName(t *testing.T) {
	d := &DataSource{}
	if _, err := d.Prepare(); err == nil || !strings.Contains(err.Error(), "name must be set") {
		t.Fatalf("Prepare = %v, want the name asked for", err)
	}
}
