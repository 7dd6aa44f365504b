package docker

import (
	"context"
	osexec "os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func needEngine(t *testing.T) *client.Client { return enginetest.NeedEngine(t) }

func newTestUI(t *testing.T) *enginetest.UI { return &enginetest.UI{T: t} }

// prepared returns a builder whose config was set by set and prepared.
func prepared(t *testing.T, set func(c *Config)) *Builder {
	t.Helper()
	b := &Builder{}
	c := b.Config().(*Config)
	c.Image = testenv.BaseImage
	f := false
	c.Pull = &f
	set(c)
	if _, err := b.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return b
}

// build runs b with provision as the provisioners.
func build(ctx context.Context, t *testing.T, b *Builder, ui *enginetest.UI, keep bool,
	provision func(ctx context.Context, comm communicator.Communicator) error) (plugin.Artifact, string, error) {
	t.Helper()
	var id string
	env := &plugin.BuildEnv{
		UI:         ui,
		Name:       "docker." + strings.ReplaceAll(t.Name(), "/", "-"),
		SourceName: "test",
		RunUUID:    "00000000-0000-0000-0000-000000000000",
		Provision: func(ctx context.Context, comm communicator.Communicator, data plugin.GeneratedData) error {
			id = data["ID"]
			if provision == nil {
				return nil
			}
			return provision(ctx, comm)
		},
		Steps: plugin.StepHooks{KeepOnFailure: func(error) bool { return keep }},
	}
	a, err := b.Run(ctx, env)
	return a, id, err
}

func removeImage(t *testing.T, cli *client.Client, ref string) { enginetest.RemoveImage(t, cli, ref) }

// run runs a command in the shell and returns its output.
func run(ctx context.Context, t *testing.T, comm communicator.Communicator, command string) (string, int) {
	t.Helper()
	var out strings.Builder
	code, err := comm.Run(ctx, &communicator.Cmd{Command: command, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("running %q: %v", command, err)
	}
	return out.String(), code
}

// dockerRun runs `docker run --rm ARGS...` and returns its output.
func dockerRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := osexec.Command("docker", append([]string{"run", "--rm", "-i"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker run %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// containerGone fails the test when the container still exists.
func containerGone(t *testing.T, cli *client.Client, id string) {
	t.Helper()
	if id == "" {
		t.Fatal("the build never reported its container id")
	}
	if _, err := cli.ContainerInspect(context.Background(), id); err == nil {
		t.Errorf("container %s is still there after the build", short(id))
		_ = cli.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true})
	}
}

func within(t *testing.T, d time.Duration, start time.Time, what string) {
	t.Helper()
	if el := time.Since(start); el > d {
		t.Errorf("%s took %v, more than %v", what, el, d)
	}
}

// exec runs a local command and returns its combined output.
func exec(name string, args ...string) (string, error) {
	out, err := osexec.Command(name, args...).CombinedOutput()
	return string(out), err
}
