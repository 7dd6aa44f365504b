package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// result is what one imgbuild run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout\n" + r.stdout + "--- stderr\n" + r.stderr
}

// template returns the absolute path of a template in testdata.
func template(name string) string {
	p, _ := filepath.Abs(filepath.Join("testdata", name))
	return p
}

// command returns the imgbuild command line, run in a fresh folder.
func command(ctx context.Context, t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := testenv.Command(ctx, t, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// imgbuild runs the command line to its end.
func imgbuild(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, stdout, stderr := command(ctx, t, env, args...)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running imgbuild %v: %v", args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

var containerIDLine = regexp.MustCompile(`Container ID: ([0-9a-f]{12})`)

// containerIDs lists the build containers an output mentions.
func containerIDs(out string) []string {
	var ids []string
	for _, m := range containerIDLine.FindAllStringSubmatch(out, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// buildContainers lists the containers of builds named docker.SOURCE.
func buildContainers(t *testing.T, cli *client.Client, source string) []container.Summary {
	t.Helper()
	list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true})
	if err != nil {
		t.Fatalf("listing containers: %v", err)
	}
	prefix := "/" + dockerengine.ContainerNamePrefix + "docker." + source + "-"
	var out []container.Summary
	for _, c := range list {
		for _, n := range c.Names {
			if strings.HasPrefix(n, prefix) {
				out = append(out, c)
			}
		}
	}
	return out
}

// reusedFinal is what a fully cached rebuild says when it takes the image
// an earlier build committed, making no container.
const reusedFinal = "committed with these options before"

// noContainersLeft fails (and cleans up) when a build left a container:
// none of those the output named, none with the build's name.
func noContainersLeft(t *testing.T, cli *client.Client, source string, out string) {
	t.Helper()
	ids := containerIDs(out)
	if len(ids) == 0 && !strings.Contains(out, reusedFinal) {
		t.Errorf("the output never named the build container:\n%s", out)
	}
	for _, id := range ids {
		if _, err := cli.ContainerInspect(context.Background(), id); err == nil {
			t.Errorf("container %s is left after the build", id)
			removeContainer(cli, id)
		}
	}
	for _, c := range buildContainers(t, cli, source) {
		t.Errorf("container %s %v is left after the build", c.ID[:12], c.Names)
		removeContainer(cli, c.ID)
	}
}

func removeContainer(cli *client.Client, id string) {
	_ = cli.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true, RemoveVolumes: true})
}

// removeImage removes ref when the test ends.
func removeImage(t *testing.T, cli *client.Client, ref string) {
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
}

// dockerRun runs a container from ref and returns its output.
func dockerRun(t *testing.T, ref string, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", append([]string{"run", "--rm", ref}, args...)...).CombinedOutput()
	if err != nil {
		t.Errorf("docker run %s %v: %v\n%s", ref, args, err, out)
	}
	return string(out)
}

// pull pulls ref through the engine API (with auth when given).
func pull(ctx context.Context, t *testing.T, cli *client.Client, ref string, login dockerengine.Login) {
	t.Helper()
	auth, err := login.RegistryAuth()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err == nil {
		_, err = dockerengine.ReadStream(rc, nil)
		rc.Close()
	}
	if err != nil {
		t.Fatalf("pulling %s back: %v", ref, err)
	}
}

var imageRemoveForce = image.RemoveOptions{Force: true, PruneChildren: true}
