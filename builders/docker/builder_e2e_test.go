package docker

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/steps"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestCommittedImageHasProvisionedFilesChangesAndNoBuildEntrypoint(t *testing.T) {
	cli := needEngine(t)
	ctx := context.Background()
	b := prepared(t, func(c *Config) {
		c.Commit = true
		c.Changes = []string{"ENV GREETING=hello", `CMD ["cat", "/hello.txt"]`, "WORKDIR /srv", "LABEL purpose=test"}
		c.Message, c.Author = "built by a test", "Test Author <test@example.com>"
	})
	ui := newTestUI(t)
	a, id, err := build(ctx, t, b, ui, false, func(ctx context.Context, comm communicator.Communicator) error {
		if out, code := run(ctx, t, comm, "echo made by a provisioner > /hello.txt && echo done"); code != 0 || out != "done\n" {
			t.Errorf("shell step: exit %d, output %q", code, out)
		}
		return comm.Upload(ctx, "/opt/app/greeting", strings.NewReader("uploaded\n"), 0o600)
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	removeImage(t, cli, a.ID())
	containerGone(t, cli, id)
	if a.BuilderID() != dockerengine.BuilderIDImage || !strings.HasPrefix(a.ID(), "sha256:") {
		t.Errorf("artifact = %s %s, want a docker-import style image id", a.BuilderID(), a.ID())
	}

	info, err := cli.ImageInspect(ctx, a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Config.Entrypoint) != 0 {
		t.Errorf("Entrypoint = %q: the build container's entrypoint leaked into the image", info.Config.Entrypoint)
	}
	if got := strings.Join(info.Config.Cmd, " "); got != "cat /hello.txt" {
		t.Errorf("Cmd = %q, want the CMD from changes", got)
	}
	if info.Comment != "built by a test" || info.Author != "Test Author <test@example.com>" {
		t.Errorf("comment %q, author %q: message and author not applied", info.Comment, info.Author)
	}
	if info.Config.Labels["purpose"] != "test" || info.Config.WorkingDir != "/srv" {
		t.Errorf("labels %v, workdir %q: changes not applied", info.Config.Labels, info.Config.WorkingDir)
	}
	if got := dockerRun(t, "", a.ID()); got != "made by a provisioner\n" {
		t.Errorf("docker run IMAGE = %q, want the file the shell step wrote", got)
	}
	if got := dockerRun(t, "", a.ID(), "sh", "-c", `echo "$GREETING"; cat /opt/app/greeting; stat -c %a /opt/app/greeting; pwd`); got != "hello\nuploaded\n600\n/srv\n" {
		t.Errorf("env, upload, mode, workdir = %q", got)
	}
}

func TestCommitWithoutChangesKeepsBaseImageCmd(t *testing.T) {
	cli := needEngine(t)
	ctx := context.Background()
	b := prepared(t, func(c *Config) { c.Commit = true })
	a, _, err := build(ctx, t, b, newTestUI(t), false, func(ctx context.Context, comm communicator.Communicator) error {
		_, _ = run(ctx, t, comm, "touch /marker")
		return nil
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	removeImage(t, cli, a.ID())
	// The base image's CMD is /bin/sh: with Packer's leaked entrypoint
	// this would run "/bin/sh /bin/sh" and fail.
	if got := dockerRun(t, "ls /marker\n", a.ID()); got != "/marker\n" {
		t.Errorf("docker run -i IMAGE with a script on stdin = %q", got)
	}
}

func TestEmptyEntrypointChangeLeavesNoEntrypoint(t *testing.T) {
	cli := needEngine(t)
	ctx := context.Background()
	b := prepared(t, func(c *Config) {
		c.Commit = true
		c.Changes = []string{"ENTRYPOINT []", `CMD ["echo", "no entrypoint"]`}
	})
	a, _, err := build(ctx, t, b, newTestUI(t), false, nil)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	removeImage(t, cli, a.ID())
	if got := dockerRun(t, "", a.ID()); got != "no entrypoint\n" {
		t.Errorf("docker run IMAGE = %q", got)
	}
}

func TestFailedProvisionRemovesTheContainer(t *testing.T) {
	cli := needEngine(t)
	b := prepared(t, func(c *Config) { c.Commit = true })
	boom := errors.New("provisioner failed")
	_, id, err := build(context.Background(), t, b, newTestUI(t), false, func(context.Context, communicator.Communicator) error {
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the provisioner's error", err)
	}
	containerGone(t, cli, id)
}

func TestKeepOnFailureLeavesTheContainerAndSaysHowToRemoveIt(t *testing.T) {
	cli := needEngine(t)
	b := prepared(t, func(c *Config) { c.Commit = true })
	_, id, err := build(context.Background(), t, b, newTestUI(t), true, func(context.Context, communicator.Communicator) error {
		return errors.New("provisioner failed")
	})
	if err == nil || !errors.Is(err, steps.ErrKept) {
		t.Fatalf("err = %v, want a kept-resources error", err)
	}
	if !strings.Contains(err.Error(), "docker rm -f "+short(id)) {
		t.Errorf("the error does not say how to remove the container: %v", err)
	}
	if _, ierr := cli.ContainerInspect(context.Background(), id); ierr != nil {
		t.Errorf("container %s is gone, want it kept: %v", short(id), ierr)
	}
	if out, rerr := exec("docker", "rm", "-f", short(id)); rerr != nil {
		t.Errorf("removing the kept container as the message says: %v\n%s", rerr, out)
	}
}

func TestCancelDuringProvisionRemovesTheContainerQuickly(t *testing.T) {
	cli := needEngine(t)
	b := prepared(t, func(c *Config) { c.Commit = true })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	var start time.Time
	go func() {
		<-started
		time.Sleep(300 * time.Millisecond)
		start = time.Now()
		cancel()
	}()
	_, id, err := build(ctx, t, b, newTestUI(t), false, func(ctx context.Context, comm communicator.Communicator) error {
		close(started)
		_, err := comm.Run(ctx, &communicator.Cmd{Command: "sleep 600"})
		return err
	})
	if err == nil {
		t.Fatal("a cancelled build succeeded")
	}
	within(t, 10*time.Second, start, "cancelling and cleaning up")
	containerGone(t, cli, id)
}

func TestExportPathWritesTheContainerFileSystem(t *testing.T) {
	needEngine(t)
	out := filepath.Join(t.TempDir(), "out", "image.tar")
	b := prepared(t, func(c *Config) { c.ExportPath = out })
	a, _, err := build(context.Background(), t, b, newTestUI(t), false, func(ctx context.Context, comm communicator.Communicator) error {
		_, _ = run(ctx, t, comm, "echo exported > /exported.txt")
		return nil
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if a.BuilderID() != dockerengine.BuilderIDExport || len(a.Files()) != 1 || a.Files()[0] != out {
		t.Errorf("artifact = %s %v", a.BuilderID(), a.Files())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("exported.txt not in the tarball: %v", err)
		}
		if strings.TrimPrefix(hdr.Name, "./") == "exported.txt" {
			b, _ := io.ReadAll(tr)
			if string(b) != "exported\n" {
				t.Errorf("exported.txt = %q", b)
			}
			break
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("export left temporary files: %v", entries)
	}
}

func TestDiscardLeavesNothing(t *testing.T) {
	cli := needEngine(t)
	b := prepared(t, func(c *Config) { c.Discard = true })
	a, id, err := build(context.Background(), t, b, newTestUI(t), false, nil)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if a.ID() != "" || len(a.Files()) != 0 {
		t.Errorf("discard artifact = %q %v", a.ID(), a.Files())
	}
	containerGone(t, cli, id)
}

func TestMissingLocalImageWithPullFalseExplainsWhatToDo(t *testing.T) {
	needEngine(t)
	b := prepared(t, func(c *Config) { c.Commit = true; c.Image = "imgbuild-no-such-image:1" })
	_, _, err := build(context.Background(), t, b, newTestUI(t), false, nil)
	if err == nil || !strings.Contains(err.Error(), "pull = false") {
		t.Fatalf("err = %v, want advice about pull = false", err)
	}
}

func TestPullFailureFallsBackToTheLocalImageOrExplains(t *testing.T) {
	needEngine(t)
	pull := true
	t.Run("image present locally: warned, build goes on", func(t *testing.T) {
		b := prepared(t, func(c *Config) { c.Discard = true; c.Pull = &pull })
		ui := newTestUI(t)
		if _, _, err := build(context.Background(), t, b, ui, false, nil); err != nil {
			t.Fatalf("build: %v", err)
		}
		if !strings.Contains(ui.Text(), "using the copy already in the local engine") {
			t.Errorf("no warning about the failed pull:\n%s", ui.Text())
		}
	})
	t.Run("image missing: the error names the option", func(t *testing.T) {
		b := prepared(t, func(c *Config) { c.Discard = true; c.Pull = &pull; c.Image = "imgbuild-no-such-image:1" })
		_, _, err := build(context.Background(), t, b, newTestUI(t), false, nil)
		if err == nil || !strings.Contains(err.Error(), "pulling image imgbuild-no-such-image:1") || !strings.Contains(err.Error(), "pull = false") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestPullsTheBaseImageFromARegistryWithLogin(t *testing.T) {
	cli := needEngine(t)
	ctx := context.Background()
	resp, err := http.Get("http://" + enginetest.AuthRegistryAddr + "/v2/")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		testenv.Unavailable(t, "no registry with login on "+enginetest.AuthRegistryAddr)
	}
	resp.Body.Close()
	login := dockerengine.Login{Enabled: true, Server: enginetest.AuthRegistryAddr, Username: enginetest.AuthRegistryUser, Password: enginetest.AuthRegistryPassword}
	ref := pushedBase(t, cli, login, "imgbuild-pull-test-")

	pull := true
	b := prepared(t, func(c *Config) {
		c.Discard, c.Pull, c.Image = true, &pull, ref
		c.Login, c.LoginServer, c.LoginUsername, c.LoginPassword = true, login.Server, login.Username, login.Password
	})
	ui := newTestUI(t)
	if _, _, err := build(ctx, t, b, ui, false, nil); err != nil {
		t.Fatalf("build: %v", err)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		t.Errorf("the image was not pulled: %v", err)
	}
	if strings.Contains(ui.Text(), login.Password) || strings.Contains(ui.Text(), "failed") {
		t.Errorf("the output shows the password or a failure:\n%s", ui.Text())
	}
}

// pushedBase pushes the base image, with login, to a repository of the
// test's own (named prefix + random) in the registry login names, and
// removes it from the engine, for a test to pull it back. The registry
// forgets it when the test ends.
func pushedBase(t *testing.T, cli *client.Client, login dockerengine.Login, prefix string) string {
	t.Helper()
	ctx := context.Background()
	pushed := testenv.Registry{Addr: login.Server, Repo: enginetest.Unique(prefix), User: login.Username, Password: login.Password}
	t.Cleanup(func() {
		if err := pushed.Empty(); err != nil {
			t.Errorf("deleting the test's image from the registry: %v", err)
		}
	})
	ref := pushed.Name() + ":1"
	auth, _ := login.RegistryAuth()
	if err := cli.ImageTag(ctx, testenv.BaseImage, ref); err != nil {
		t.Fatal(err)
	}
	removeImage(t, cli, ref)
	rc, err := cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err == nil {
		_, err = dockerengine.ReadStream(rc, nil)
		rc.Close()
	}
	if err != nil {
		t.Fatalf("pushing the base image for the test: %v", err)
	}
	if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestFailedExportLeavesNoPartialFileEvenWhenTheContainerIsKept(t *testing.T) {
	cli := needEngine(t)
	dir := t.TempDir()
	b := prepared(t, func(c *Config) { c.ExportPath = filepath.Join(dir, "image.tar") })
	// Cancelled just as the export step starts, the export fails; with
	// -on-error=abort (keep) the container stays, but no partial file may.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var id string
	env := &plugin.BuildEnv{
		UI:   newTestUI(t),
		Name: "docker.failed-export",
		Provision: func(_ context.Context, _ communicator.Communicator, data plugin.GeneratedData) error {
			id = data["ID"]
			return nil
		},
		Steps: plugin.StepHooks{
			KeepOnFailure: func(error) bool { return true },
			BeforeStep: func(_ context.Context, step string) error {
				if step == "export" {
					cancel()
				}
				return nil
			},
		},
	}
	_, err := b.Run(ctx, env)
	if id != "" {
		defer func() { _ = cli.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true}) }()
	}
	if err == nil || !strings.Contains(err.Error(), "export") {
		t.Fatalf("err = %v, want the export step's failure", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the failed export left %v in %s", entries, dir)
	}
}
