package amazonami

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestDataSourceReturnsTheNewestMatchingAMIFromTheEmulator(t *testing.T) {
	testenv.UseMoto(t)
	d := &DataSource{}
	cfg := d.Config().(*Config)
	cfg.Filters = map[string]string{"name": "ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*", "virtualization-type": "hvm"}
	cfg.Owners = []string{"099720109477"}
	cfg.MostRecent = true
	if _, err := d.Prepare(); err != nil {
		t.Fatal(err)
	}
	v, err := d.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !v.Type().Equals(d.OutputType()) {
		t.Fatalf("value type %s differs from OutputType %s", v.Type().FriendlyName(), d.OutputType().FriendlyName())
	}
	id := v.GetAttr("id").AsString()
	name := v.GetAttr("name").AsString()
	if !strings.HasPrefix(id, "ami-") || !strings.HasPrefix(name, "ubuntu/images/hvm-ssd/ubuntu-") {
		t.Fatalf("id=%q name=%q, want an ubuntu AMI", id, name)
	}
	if owner := v.GetAttr("owner").AsString(); owner != "099720109477" {
		t.Errorf("owner = %q", owner)
	}
	// Several AMIs match: without most_recent that is an error.
	cfg.MostRecent = false
	if _, err := d.Execute(context.Background()); err == nil || !strings.Contains(err.Error(), "most_recent") {
		t.Errorf("without most_recent: %v, want an error suggesting most_recent", err)
	}
}

func TestDataSourcePrepareRequiresOwners(t *testing.T) {
	d := &DataSource{}
	d.Config().(*Config).Filters = map[string]string{"name": "x"}
	if _, err := d.Prepare(); err == nil || !strings.Contains(err.Error(), "owners") {
		t.Fatalf("Prepare = %v, want an owners error", err)
	}
}

func TestSecretsManagerFunctionsReadTheEmulatorsSecretAndMaskIt(t *testing.T) {
	awsCfg := testenv.MotoConfig(t)
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(awsCfg)
	jsonName := "imgbuild-test-json-" + uuid.NewString()[:8]
	rawName := "imgbuild-test-raw-" + uuid.NewString()[:8]
	for name, val := range map[string]string{jsonName: `{"password":"hunter2-xyz","user":"admin"}`, rawName: "plain-secret-value"} {
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(val)}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
		})
	}
	tests := []struct {
		name    string
		args    []cty.Value
		raw     bool
		want    string
		wantErr string
	}{
		{"key of a JSON secret", []cty.Value{cty.StringVal(jsonName), cty.StringVal("password")}, false, "hunter2-xyz", ""},
		{"null key of a plain secret", []cty.Value{cty.StringVal(rawName), cty.NullVal(cty.String)}, false, "plain-secret-value", ""},
		{"null key of a JSON secret with two keys", []cty.Value{cty.StringVal(jsonName), cty.NullVal(cty.String)}, false, "", "name the one you want"},
		{"missing key", []cty.Value{cty.StringVal(jsonName), cty.StringVal("nope")}, false, "", `no key "nope"`},
		{"missing secret", []cty.Value{cty.StringVal("no-such-secret-" + uuid.NewString()), cty.StringVal("k")}, false, "", "does not exist"},
		{"raw", []cty.Value{cty.StringVal(jsonName)}, true, `{"password":"hunter2-xyz","user":"admin"}`, ""},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			f := secretsManagerFunc
			if tt.raw {
				f = secretsManagerRawFunc
			}
			v, err := f.Call(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.AsString() != tt.want {
				t.Fatalf("got %q, want %q", v.AsString(), tt.want)
			}
			if m := secret.Mask("value is " + tt.want); strings.Contains(m, tt.want) {
				t.Errorf("the secret is not masked in output: %q", m)
			}
		})
	}
}
