package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// sshdPassword is root's password in the image make-sshd-image.sh makes.
const sshdPassword = "sshd-test-password"

// sshdImage returns the tag of the test image with sshd in it, made (or
// found in the engine's cache of it) by testdata/make-sshd-image.sh. The
// image is kept across runs: it is the script's cache, not the test's.
func sshdImage(t *testing.T) string {
	t.Helper()
	testenv.NeedCommand(t, "ssh-keygen")
	if _, err := exec.LookPath("busybox"); err != nil {
		testenv.Unavailable(t, "busybox is missing: run scripts/test-setup.sh")
	}
	out, err := exec.Command("bash", filepath.Join("testdata", "make-sshd-image.sh")).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		testenv.Unavailable(t, "making the sshd test image: "+msg)
	}
	return strings.TrimSpace(string(out))
}

func TestSSHCommunicatorProvisionsAContainerRunningSSHD(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	img := sshdImage(t)
	keyDir := t.TempDir()
	key := filepath.Join(keyDir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("making a key pair: %v\n%s", err, out)
	}

	for _, c := range []struct {
		name   string
		auth   []string
		cached bool // -cache: checkpoints over SSH, the image made from the last
	}{
		{name: "password", auth: []string{"-var", "password=" + sshdPassword}},
		{name: "private key file", auth: []string{"-var", "key_file=" + key}},
		{name: "cached", auth: []string{"-var", "key_file=" + key}, cached: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var env, cacheArgs []string
			if c.cached { // before removeImage: its cleanup runs first then
				_, env = cacheDir(t, cli)
				cacheArgs = []string{"-cache"}
			}
			repo := enginetest.Unique("imgbuild-e2e-ssh-")
			removeImage(t, cli, repo+":ssh")
			args := append(append([]string{"build", "-var", "repo=" + repo, "-var", "image=" + img}, c.auth...), cacheArgs...)
			r := imgbuild(t, env, append(args, template("sshcomm.pkr.hcl"))...)
			if r.code != 0 {
				t.Fatalf("build failed:\n%s", r)
			}
			if c.cached && (!strings.Contains(r.stdout, "saved to cache") || !builtOnACheckpoint(t, cli, repo+":ssh")) {
				t.Errorf("the -cache build over SSH did not checkpoint, or its image was not made from its last checkpoint:\n%s", r)
			}
			noContainersLeft(t, cli, "sshcomm", r.stdout)
			if !strings.Contains(r.stdout, "Connected to SSH!") || !strings.Contains(r.stdout, "provisioned as 0") {
				t.Errorf("the output does not show the provisioners running over SSH:\n%s", r)
			}
			if strings.Contains(r.stdout+r.stderr, sshdPassword) {
				t.Errorf("the SSH password appears in the output:\n%s", r)
			}

			got := dockerRun(t, repo+":ssh", "cat", "/etc/app/app.conf", "/etc/over-ssh.txt", "/etc/provisioned")
			want := "setting = from the file provisioner\nuploaded over ssh\nhello over ssh\n"
			if got != want {
				t.Errorf("files in the committed image = %q, want %q", got, want)
			}
			// The image keeps its own CMD: sshd, not the build's run_command.
			info, err := cli.ImageInspect(t.Context(), repo+":ssh")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(info.Config.Cmd, " ") != "/usr/sbin/sshd -D -e" || len(info.Config.Entrypoint) != 0 {
				t.Errorf("CMD %q ENTRYPOINT %q, want the base image's", info.Config.Cmd, info.Config.Entrypoint)
			}
		})
	}
}

func TestSSHCommunicatorFailuresSayWhatToStartAndLeaveNothing(t *testing.T) {
	cli := enginetest.NeedEngine(t)
	img := sshdImage(t)
	for _, c := range []struct {
		name       string
		runCommand string
		sshTimeout string
		want       []string
		within     time.Duration
	}{
		{
			name:       "sshd exits at once: its output, well before ssh_timeout",
			runCommand: `["-d", "{{.Image}}", "/usr/sbin/sshd", "-D", "-e", "-f", "/no/such/sshd_config"]`,
			sshTimeout: "60s",
			// Whether the start step or the wait for SSH sees it stop first,
			// the error gives the exit code and sshd's own complaint.
			want:   []string{"(exit code 1)", "/no/such/sshd_config: No such file or directory"},
			within: 20 * time.Second,
		},
		{
			name:       "no sshd started: advice at ssh_timeout",
			runCommand: `["-d", "-i", "-t", "{{.Image}}", "/bin/sh"]`,
			sshTimeout: "4s",
			want:       []string{"needs an SSH server running in the container", "run_command"},
			within:     30 * time.Second,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := imgbuild(t, nil, "build", "-var", "repo=imgbuild-e2e-ssh-unused", "-var", "image="+img,
				"-var", "password="+sshdPassword, "-var", "ssh_timeout="+c.sshTimeout, "-var", "run_command="+c.runCommand,
				template("sshcomm.pkr.hcl"))
			if r.code == 0 {
				t.Fatalf("the build succeeded:\n%s", r)
			}
			if el := time.Since(start); el > c.within {
				t.Errorf("the build took %v to fail, more than %v", el, c.within)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("the output does not say %q:\n%s", w, r)
				}
			}
			noContainersLeft(t, cli, "sshcomm", r.stdout)
		})
	}
}
