package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// BenchmarkDockerHelloBuild times `imgbuild build examples/hello.pkr.hcl`
// (the real command line: parse, start a container, upload a folder, run
// a shell script, commit with changes, tag, write a manifest, remove the
// container) against the same steps done by hand with the docker CLI
// (run, exec, cp, exec, commit, tag, rm) in the same run, and reports our
// time as a ratio to theirs (x-dockercli; target at most 1.0).
func BenchmarkDockerHelloBuild(b *testing.B) {
	cli := enginetest.NeedEngine(b)
	dockerCLI := testenv.NeedCommand(b, "docker")
	bin := testenv.Binary(b)
	example := filepath.Join(testenv.RepoRoot(), "examples", "hello.pkr.hcl")
	files := filepath.Join(testenv.RepoRoot(), "examples", "files")
	ctx := context.Background()
	remove := func(ref string) {
		_, _ = cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	}

	// One build of each first, so that neither side pays for cold caches.
	warm := enginetest.Unique("imgbuild-bench-warm-")
	runImgbuild(b, bin, example, warm)
	remove(warm + ":latest")
	runByHand(b, dockerCLI, files, warm)
	remove(warm + ":latest")

	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		repo := enginetest.Unique("imgbuild-bench-ours-")
		start := time.Now()
		runImgbuild(b, bin, example, repo)
		ours += time.Since(start)
		remove(repo + ":latest")

		repo = enginetest.Unique("imgbuild-bench-hand-")
		start = time.Now()
		runByHand(b, dockerCLI, files, repo)
		theirs += time.Since(start)
		remove(repo + ":latest")
	}
	b.StopTimer()
	b.ReportMetric(ours.Seconds()/float64(b.N), "s-imgbuild")
	b.ReportMetric(theirs.Seconds()/float64(b.N), "s-dockercli")
	b.ReportMetric(float64(ours)/float64(theirs), "x-dockercli")
}

func runImgbuild(b *testing.B, bin, example, repo string) {
	b.Helper()
	cmd := exec.Command(bin, "build", "-var", "repository="+repo, example)
	cmd.Dir = b.TempDir() // the manifest goes here
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("imgbuild build: %v\n%s", err, out)
	}
}

// runByHand does what hello.pkr.hcl asks for with the docker CLI.
func runByHand(b *testing.B, docker, files, repo string) {
	b.Helper()
	run := func(args ...string) string {
		out, err := exec.Command(docker, args...).CombinedOutput()
		if err != nil {
			b.Fatalf("docker %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	id := run("run", "-d", "-i", "-t", "--entrypoint=/bin/sh", "--", testenv.BaseImage)
	defer run("rm", "-f", id)
	run("exec", id, "mkdir", "-p", "/srv/hello")
	run("cp", files+"/.", id+":/srv/hello")
	run("exec", "-e", "GREETING=Hello from imgbuild", id, "/bin/sh", "-c", "sh /srv/hello/make-hello.sh > /hello.txt && cat /hello.txt")
	img := run("commit",
		"-c", `ENV GREETING="Hello from imgbuild"`,
		"-c", "WORKDIR /srv/hello",
		"-c", "LABEL org.opencontainers.image.title=imgbuild-hello",
		"-c", `CMD ["cat", "/hello.txt"]`,
		id)
	run("tag", img, repo+":latest")
	manifest := filepath.Join(b.TempDir(), "manifest.json")
	if err := os.WriteFile(manifest, []byte(`{"builds":[{"artifact_id":"`+repo+`:latest"}]}`), 0o644); err != nil {
		b.Fatal(err)
	}
}
