package null_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

// cliBuild is a null-builder template built through the real CLI against
// a test sshd on loopback, the "existing machine". The template declares
// the variables port, key and dir; dir is a folder on that machine that
// the test user may write.
type cliBuild struct {
	sshd   *sshd.Server
	work   string // the build's working directory, with the template
	remote string // the folder the template gets as var.dir
	tmpl   string
}

func newCLIBuild(t *testing.T, template string) *cliBuild {
	t.Helper()
	b := &cliBuild{sshd: sshd.Start(t), work: t.TempDir()}
	b.tmpl = filepath.Join(b.work, "null.pkr.hcl")
	if err := os.WriteFile(b.tmpl, []byte(template), 0o644); err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: the sshd's user writes here, so it must be reachable
	// and writable by another user.
	remote, err := os.MkdirTemp("", "imgbuild-null-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(remote) })
	if err := os.Chmod(remote, 0o777); err != nil {
		t.Fatal(err)
	}
	b.remote = remote
	return b
}

// run builds the template and returns the CLI's combined output; a failed
// build fails the test.
func (b *cliBuild) run(ctx context.Context, t *testing.T) []byte {
	t.Helper()
	cmd := testenv.Command(ctx, t, "build",
		"-var", fmt.Sprintf("port=%d", b.sshd.Port), "-var", "key="+b.sshd.KeyFile, "-var", "dir="+b.remote, b.tmpl)
	cmd.Dir = b.work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imgbuild build: %v\n%s", err, out)
	}
	return out
}
