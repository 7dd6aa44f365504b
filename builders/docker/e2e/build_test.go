package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestProvisionedChangedAndTaggedImageRunsAsBuilt(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	repo := enginetest.Unique("imgbuild-e2e-tagged-")
	removeImage(t, cli, repo+":e2e")
	r := imgbuild(t, nil, "build", "-var", "repo="+repo, template("tagged.pkr.hcl"))
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	noContainersLeft(t, cli, "tagged", r.stdout)

	if got := dockerRun(t, repo+":e2e"); got != "provisioned\n" {
		t.Errorf("docker run IMAGE (its CMD) = %q", got)
	}
	got := dockerRun(t, repo+":e2e", "sh", "-c", "cat /etc/app/app.conf /etc/inline.txt; echo $COLOR")
	if want := "setting = from the file provisioner\ninline content\nblue\n"; got != want {
		t.Errorf("files and ENV in the image = %q, want %q", got, want)
	}
	info, err := cli.ImageInspect(context.Background(), repo+":e2e")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(info.Config.Cmd, " ") != "cat /etc/provisioned" || len(info.Config.Entrypoint) != 0 {
		t.Errorf("CMD %q ENTRYPOINT %q, want the CMD from changes and no entrypoint", info.Config.Cmd, info.Config.Entrypoint)
	}
}

func TestExportedTarballImportsToTheSameContent(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	repo := enginetest.Unique("imgbuild-e2e-import-")
	removeImage(t, cli, repo+":imported")
	tarball := filepath.Join(t.TempDir(), "exported.tar")
	r := imgbuild(t, nil, "build", "-var", "repo="+repo, "-var", "tarball="+tarball, template("exported.pkr.hcl"))
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	noContainersLeft(t, cli, "exported", r.stdout)
	if got := dockerRun(t, repo+":imported"); got != "exported content\n" {
		t.Errorf("docker run of the imported image = %q", got)
	}
	// docker-import does not keep its input unless keep_input_artifact.
	if _, err := os.Stat(tarball); err == nil {
		t.Errorf("the exported tarball %s is still there after docker-import", tarball)
	}
}

func TestPushedImageComesBackFromTheRegistry(t *testing.T) {
	for _, c := range []struct {
		name     string
		addr     string
		status   int
		login    dockerengine.Login
		extraVar []string
	}{
		{name: "open registry", addr: testenv.RegistryAddr, status: http.StatusOK},
		{
			name: "registry with login", addr: enginetest.AuthRegistryAddr, status: http.StatusUnauthorized,
			login: dockerengine.Login{Enabled: true, Server: enginetest.AuthRegistryAddr, Username: enginetest.AuthRegistryUser, Password: enginetest.AuthRegistryPassword},
			extraVar: []string{"-var", "login=true", "-var", "server=" + enginetest.AuthRegistryAddr,
				"-var", "user=" + enginetest.AuthRegistryUser, "-var", "password=" + enginetest.AuthRegistryPassword},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			cli := enginetest.NeedEngine(t)
			needRegistry(t, c.addr, c.status)
			ctx := context.Background()
			pushed := testenv.Registry{Addr: c.addr, Repo: enginetest.Unique("imgbuild-e2e-push-"), User: c.login.Username, Password: c.login.Password}
			t.Cleanup(func() {
				if err := pushed.Empty(); err != nil {
					t.Errorf("deleting the pushed image from the registry: %v", err)
				}
			})
			repo := pushed.Name()
			ref := repo + ":v1"
			removeImage(t, cli, ref)
			args := append([]string{"build", "-var", "repo=" + repo}, c.extraVar...)
			r := imgbuild(t, nil, append(args, template("pushed.pkr.hcl"))...)
			if r.code != 0 {
				t.Fatalf("build failed:\n%s", r)
			}
			if c.login.Password != "" && strings.Contains(r.stdout+r.stderr, c.login.Password) {
				t.Error("the registry password was shown")
			}
			built, err := cli.ImageInspect(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			removeImage(t, cli, built.ID)
			if _, err := cli.ImageRemove(ctx, built.ID, imageRemoveForce); err != nil {
				t.Fatalf("removing the image locally: %v", err)
			}
			pull(ctx, t, cli, ref, c.login)
			back, err := cli.ImageInspect(ctx, ref)
			if err != nil || back.ID != built.ID {
				t.Errorf("pulled back %s (%v), want the pushed image %s", back.ID, err, built.ID)
			}
			if got := dockerRun(t, ref, "cat", "/pushed.txt"); got != "pushed content\n" {
				t.Errorf("content of the pulled image = %q", got)
			}
		})
	}
}

func TestTwoSourcesBuildInParallelWithPrefixedInterleavedOutput(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	r := imgbuild(t, nil, "build", "-color=false", template("parallel.pkr.hcl"))
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	noContainersLeft(t, cli, "left", r.stdout)
	noContainersLeft(t, cli, "right", r.stdout)

	var order []string // "left" or "right", in the order lines came
	for _, line := range strings.Split(r.stdout, "\n") {
		if !strings.Contains(line, "line ") || !strings.Contains(line, " from ") {
			continue
		}
		build, text, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok || (build != "docker.left" && build != "docker.right") {
			t.Errorf("provisioner output without its build's prefix: %q", line)
			continue
		}
		side := strings.TrimPrefix(build, "docker.")
		if !strings.Contains(text, side) {
			t.Errorf("line %q is prefixed with the other build's name", line)
		}
		order = append(order, side)
	}
	if len(order) != 16 {
		t.Fatalf("got %d provisioner lines, want 16:\n%s", len(order), r.stdout)
	}
	firstRight, lastLeft := -1, -1
	for i, s := range order {
		if s == "right" && firstRight < 0 {
			firstRight = i
		}
		if s == "left" {
			lastLeft = i
		}
	}
	firstLeft, lastRight := -1, -1
	for i, s := range order {
		if s == "left" && firstLeft < 0 {
			firstLeft = i
		}
		if s == "right" {
			lastRight = i
		}
	}
	if firstRight > lastLeft || firstLeft > lastRight {
		t.Errorf("the builds ran one after the other (order %v), not in parallel", order)
	}
}

// Two committing sources of one invocation build at once: both succeed,
// each image holds what its own build wrote, and no container is left.
func TestTwoCommittingSourcesBuildAtOnceIntoTheirOwnImages(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	repo := enginetest.Unique("imgbuild-e2e-parallel-")
	for _, src := range []string{"one", "two"} {
		removeImage(t, cli, repo+":"+src)
	}
	r := imgbuild(t, nil, "build", "-color=false", "-var", "repo="+repo, template("parallelcommit.pkr.hcl"))
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	for _, src := range []string{"one", "two"} {
		noContainersLeft(t, cli, src, r.stdout)
		if got := dockerRun(t, repo+":"+src, "cat", "/built-by"); got != "built by "+src+"\n" {
			t.Errorf("/built-by in %s:%s = %q, want its own build's name", repo, src, got)
		}
	}
}

func TestFailingProvisionerExitsOneShowsWhyAndLeavesNoContainer(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	r := imgbuild(t, nil, "build", template("failing.pkr.hcl"))
	if r.code != 1 {
		t.Errorf("exit code %d, want 1:\n%s", r.code, r)
	}
	all := r.stdout + r.stderr
	for _, want := range []string{"about to fail", "a complaint on stderr", "7"} {
		if !strings.Contains(all, want) {
			t.Errorf("the output does not show %q:\n%s", want, r)
		}
	}
	noContainersLeft(t, cli, "failing", r.stdout)
}

// A build whose second post-processor fails: what the chain made (the
// committed image, its tag) is removed, as every resource a failed build
// made, and the summary says no artifact was created. Asked to keep the
// failing post-processor's input (keep_input_artifact = true), the build
// keeps the tagged image and the summary lists it.
func TestFailingPostProcessorRemovesWhatItsChainMadeUnlessAskedToKeepIt(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep_input_artifact=%v", keep), func(t *testing.T) {
			repo := enginetest.Unique("imgbuild-e2e-ppfails-")
			label := enginetest.Unique("ppfails-")
			t.Cleanup(func() { removeLabelled(cli, label) })
			r := imgbuild(t, nil, "build", "-color=false", "-var", "repo="+repo, "-var", "label="+label,
				"-var", fmt.Sprintf("keep=%v", keep), template("failingpostprocessor.pkr.hcl"))
			if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "fails on purpose") {
				t.Fatalf("want exit 1 with the post-processor's output:\n%s", r)
			}
			noContainersLeft(t, cli, "ppfails", r.stdout)
			images := labelled(t, cli, label)
			if !keep {
				if len(images) > 0 {
					t.Errorf("the failed build left images %v", images)
				}
				if !strings.Contains(r.stdout, "no artifacts were created") {
					t.Errorf("the summary does not say that nothing was kept:\n%s", r)
				}
				return
			}
			if len(images) != 1 || !slices.Contains(images[0].RepoTags, repo+":e2e") {
				t.Fatalf("images left: %v, want the one tagged %s:e2e", images, repo)
			}
			if strings.Contains(r.stdout, "no artifacts were created") || !strings.Contains(r.stdout, repo+":e2e") {
				t.Errorf("the summary does not list the kept image %s:e2e:\n%s", repo, r)
			}
		})
	}
}

// labelled lists the images carrying the label imgbuild-test=value.
func labelled(t *testing.T, cli *client.Client, value string) []image.Summary {
	t.Helper()
	list, err := cli.ImageList(context.Background(), image.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "imgbuild-test="+value))})
	if err != nil {
		t.Fatalf("listing images: %v", err)
	}
	return list
}

// removeLabelled removes the images carrying the label imgbuild-test=value.
func removeLabelled(cli *client.Client, value string) {
	ctx := context.Background()
	list, _ := cli.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "imgbuild-test="+value))})
	for _, img := range list {
		_, _ = cli.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
	}
}

func TestOnErrorAbortKeepsTheContainerAndSaysHowToRemoveIt(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	env := []string{"XDG_STATE_HOME=" + t.TempDir()} // this test's own ledger
	r := imgbuild(t, env, "build", "-on-error=abort", template("failing.pkr.hcl"))
	ids := containerIDs(r.stdout)
	for _, id := range ids {
		t.Cleanup(func() { removeContainer(cli, id) })
	}
	if r.code != 1 || len(ids) != 1 {
		t.Fatalf("exit %d, containers %v; want 1 and one container:\n%s", r.code, ids, r)
	}
	if _, err := cli.ContainerInspect(context.Background(), ids[0]); err != nil {
		t.Errorf("container %s is gone; -on-error=abort must keep it: %v", ids[0], err)
	}
	if !strings.Contains(r.stdout+r.stderr, "docker rm -f "+ids[0]) {
		t.Errorf("the output does not say how to remove the container (docker rm -f %s):\n%s", ids[0], r)
	}
	// The ledger marks it kept: cleanup leaves it unless asked (issue 14, 6).
	if c := imgbuild(t, env, "cleanup"); c.code != 0 || !strings.Contains(c.stdout, "Nothing to clean up.") {
		t.Errorf("cleanup touched the kept container:\n%s", c)
	}
	if _, err := cli.ContainerInspect(context.Background(), ids[0]); err != nil {
		t.Fatalf("cleanup removed the container the user asked to keep: %v", err)
	}
	if c := imgbuild(t, env, "cleanup", "--include-kept"); c.code != 0 || !strings.Contains(c.stdout, "removed docker container") {
		t.Errorf("cleanup --include-kept did not remove it:\n%s", c)
	}
	if _, err := cli.ContainerInspect(context.Background(), ids[0]); err == nil {
		t.Errorf("container %s is still there after cleanup --include-kept", ids[0])
	}
}

// startLongProvisioner starts building interrupted.pkr.hcl and returns
// once its provisioner sleeps, with the output so far (still growing).
func startLongProvisioner(ctx context.Context, t *testing.T, env []string) (*exec.Cmd, *testenv.SyncBuffer) {
	t.Helper()
	cmd, _, _ := command(ctx, t, env, "build", template("interrupted.pkr.hcl"))
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "sleeping now") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the long provisioner never started:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd, &out
}

func TestInterruptDuringAProvisionerCleansUpWithinTenSeconds(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, stdout := startLongProvisioner(ctx, t, nil)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("an interrupted build exited 0")
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Errorf("imgbuild was still running 10 s after SIGINT")
	}
	t.Logf("exited %v after SIGINT", time.Since(start))
	noContainersLeft(t, cli, "interrupted", stdout.String())
}

// SIGKILL leaves no chance to clean up: the container stays. The resource
// ledger named it before it existed, so `imgbuild cleanup` removes it.
func TestCleanupRemovesTheContainerOfAKilledBuild(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	env := []string{"XDG_STATE_HOME=" + t.TempDir()} // this test's own ledger
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, stdout := startLongProvisioner(ctx, t, env)
	cmd.Process.Kill()
	cmd.Wait()
	left := buildContainers(t, cli, "interrupted")
	if len(left) != 1 {
		t.Fatalf("after SIGKILL, %d build containers are there; want the one the build was using", len(left))
	}
	name := strings.TrimPrefix(left[0].Names[0], "/")

	dry := imgbuild(t, env, "cleanup", "--dry-run")
	if dry.code != 0 || !strings.Contains(dry.stdout, "would remove docker container "+name) {
		t.Errorf("cleanup --dry-run does not list the container %s:\n%s", name, dry)
	}
	if len(buildContainers(t, cli, "interrupted")) != 1 {
		t.Errorf("cleanup --dry-run removed the container")
	}
	res := imgbuild(t, env, "cleanup")
	if res.code != 0 || !strings.Contains(res.stdout, "removed docker container "+name) {
		t.Errorf("cleanup did not report removing %s:\n%s", name, res)
	}
	noContainersLeft(t, cli, "interrupted", stdout.String())
	if again := imgbuild(t, env, "cleanup"); !strings.Contains(again.stdout, "Nothing to clean up.") {
		t.Errorf("a second cleanup found more:\n%s", again)
	}
}

func TestSensitiveValuesNeverReachOutputOrLog(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	const token = "tok-9f8e7d6c5b4a-secret"
	logPath := filepath.Join(t.TempDir(), "imgbuild.log")
	r := imgbuild(t, []string{"IMGBUILD_LOG=1", "IMGBUILD_LOG_PATH=" + logPath},
		"build", "-var", "token="+token, template("sensitive.pkr.hcl"))
	if r.code != 0 {
		t.Fatalf("build failed:\n%s", r)
	}
	noContainersLeft(t, cli, "sensitive", r.stdout)
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("no log written: %v", err)
	}
	for name, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "log": string(log)} {
		if strings.Contains(text, token) {
			t.Errorf("the sensitive value appears in %s", name)
		}
	}
	// The provisioners really used it: their output shows it masked. (The
	// file's line "token=..." is computed from the secret, so it is masked
	// whole, as every value derived from a sensitive one is.)
	if !strings.Contains(r.stdout, "inline sees <sensitive>") || !strings.Contains(r.stdout, "env sees <sensitive>") {
		t.Errorf("the provisioners' output does not show the masked value:\n%s", r)
	}
}

// needRegistry skips unless the registry at addr answers with status.
func needRegistry(t *testing.T, addr string, status int) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v2/")
	if err != nil {
		testenv.Unavailable(t, "no registry on "+addr+": "+err.Error())
		return
	}
	resp.Body.Close()
	if resp.StatusCode != status {
		testenv.Unavailable(t, "the registry on "+addr+" answers "+resp.Status)
	}
}
