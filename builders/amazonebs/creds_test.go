package amazonebs

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// authMoto starts a moto_server of the test's own that checks credentials
// (INITIAL_NO_AUTH_ACTION_COUNT=0; the shared one accepts any key) and
// returns its endpoint.
func authMoto(t *testing.T) string {
	t.Helper()
	py := testenv.NeedCommand(t, "python3")
	if err := exec.Command(py, "-c", "import moto.server").Run(); err != nil {
		testenv.Unavailable(t, "python3 cannot import moto.server")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(py, "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "INITIAL_NO_AUTH_ACTION_COUNT=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
	}
	t.Fatal("the authenticating moto_server did not start within 60s")
	return ""
}

func TestWrongCredentialsFailInOneLineBeforeAnythingIsCreated(t *testing.T) {
	motoEnv(t)
	t.Setenv("AWS_ENDPOINT_URL", authMoto(t))
	c := baseConfig(t, "wrongcreds")
	c.AccessKey, c.SecretKey = "AKIAWRONGWRONGWRONG1", "not-the-secret"
	b := prepared(t, c)
	env, _ := newEnv(t, "wrongcreds")
	_, err := b.Run(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), "AWS rejected the credentials") || !strings.Contains(err.Error(), "access_key") {
		t.Fatalf("Run = %v, want a rejected-credentials error that names access_key", err)
	}
	t.Logf("the error: %v", err)
	if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("error is not one clean line: %q", err)
	}
	l, _ := ledger.Open(b.LedgerPath)
	if entries, _ := l.Read(); len(entries) > 0 {
		t.Errorf("something was created before the error: %+v", entries)
	}
}
