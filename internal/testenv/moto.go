package testenv

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// UseMoto points the AWS SDK, for the rest of the test, at the moto
// emulator (AWS_ENDPOINT_URL) with dummy credentials in us-east-1, and
// keeps the user's own AWS files and the metadata service out of it. When
// moto is not listening it calls Unavailable.
func UseMoto(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", MotoAddr, time.Second)
	if err != nil {
		Unavailable(t, "moto_server is not listening on "+MotoAddr)
		return
	}
	c.Close()
	t.Setenv("AWS_ENDPOINT_URL", "http://"+MotoAddr)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// MotoConfig is UseMoto, and an AWS SDK configuration that reaches moto,
// for tests that make what a build then reads (secrets, images).
func MotoConfig(t *testing.T) aws.Config {
	t.Helper()
	UseMoto(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("loading the AWS configuration for moto: %v", err)
	}
	return cfg
}
