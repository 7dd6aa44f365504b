package dockerimport

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// rootfs writes a tarball with busybox as sh and cat, and /hello.txt.
func rootfs(t *testing.T) string {
	t.Helper()
	busybox := testenv.NeedCommand(t, "busybox")
	path := filepath.Join(t.TempDir(), "rootfs.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	bb, err := os.Open(busybox)
	if err != nil {
		t.Fatal(err)
	}
	defer bb.Close()
	st, _ := bb.Stat()
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: st.Size()})
	io.Copy(tw, bb)
	for _, applet := range []string{"sh", "cat"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	body := "imported content\n"
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
	io.WriteString(tw, body)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportsAnExportedTarballWithChanges(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	tarball := rootfs(t)
	repo := enginetest.Unique("imgbuild-import-test-")
	enginetest.RemoveImage(t, cli, repo+":v1")
	p := &PostProcessor{config: Config{Repository: repo, Tag: "v1", Changes: []string{`CMD ["cat", "/hello.txt"]`, "ENV FROM_IMPORT=yes"}}}
	if _, err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	out, keep, _, err := p.PostProcess(context.Background(), enginetest.Env(&enginetest.UI{T: t}), &dockerengine.FileArtifact{Path: tarball})
	if err != nil {
		t.Fatal(err)
	}
	if keep || out.ID() != repo+":v1" || out.BuilderID() != dockerengine.BuilderIDImage {
		t.Errorf("artifact %s %s keep %v; want %s:v1, tarball not kept", out.BuilderID(), out.ID(), keep, repo)
	}
	got, err := exec.Command("docker", "run", "--rm", repo+":v1").CombinedOutput()
	if err != nil || string(got) != "imported content\n" {
		t.Errorf("docker run: %q, %v", got, err)
	}
	got, _ = exec.Command("docker", "run", "--rm", repo+":v1", "sh", "-c", "echo $FROM_IMPORT").CombinedOutput()
	if string(got) != "yes\n" {
		t.Errorf("ENV from changes: %q", got)
	}
}

func TestRefusesACommittedImageAndSaysWhatToUse(t *testing.T) {
	p := &PostProcessor{config: Config{Repository: "x"}}
	_, _, _, err := p.PostProcess(context.Background(), enginetest.Env(&enginetest.UI{T: t}),
		&dockerengine.ImageArtifact{BuilderIDValue: dockerengine.BuilderIDImage, Ref: "sha256:abc"})
	if err == nil || !strings.Contains(err.Error(), "use docker-tag") {
		t.Errorf("err = %v", err)
	}
}

func TestPrepareRejectsChangesTheEngineWouldRefuse(t *testing.T) {
	p := &PostProcessor{config: Config{Repository: "x", Changes: []string{"RUN true"}}}
	if _, err := p.Prepare(); err == nil || !strings.Contains(err.Error(), "changes[0]") {
		t.Errorf("err = %v", err)
	}
}
