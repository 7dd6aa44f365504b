package testenv

import (
	"net"
	"path/filepath"
	"testing"
	"time"
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
