// Package e2e runs imgbuild with HashiCorp's own Packer plugin binaries
// (built by the test set-up) through the CLI, as a user would.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string { return "stdout:\n" + r.stdout + "\nstderr:\n" + r.stderr }

// imgbuild runs the CLI in dir with the plugins of pluginDir installed.
func imgbuild(t *testing.T, dir, pluginDir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := testenv.Command(ctx, t, args...)
	cmd.Dir = dir
	cmd.Env = pluginEnv(t, pluginDir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running imgbuild: %v", err)
	}
	return result{code, out.String(), errOut.String()}
}

func pluginEnv(t *testing.T, pluginDir string) []string {
	// A short HOME: ansible's SSH control sockets live under it, and a
	// socket path is limited to 108 bytes.
	home, err := os.MkdirTemp("", "ib-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	// A temporary directory of the test's own, so that it can tell that
	// imgbuild removed its temporary folders, the plugins' among them
	// (this cleanup runs after the build's process has ended: startBuild's
	// cleanup runs first).
	tmp := filepath.Join(home, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if left := imgbuildTempDirs(t, tmp); len(left) > 0 && !t.Failed() {
			t.Errorf("temporary folders left: %v", left)
		}
	})
	return append(os.Environ(), "PACKER_PLUGIN_PATH="+pluginDir, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"), "TMPDIR="+tmp)
}

// imgbuildTempDirs lists imgbuild's temporary folders in tmp (the run
// folders that hold the plugin processes' folders).
func imgbuildTempDirs(t *testing.T, tmp string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(tmp, "imgbuild-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// envValue is name's value in env ("" when unset).
func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

func writeTemplate(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.pkr.hcl"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func unique(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func needDocker(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "image", "inspect", "imgbuild-base:latest").Run(); err != nil {
		testenv.Unavailable(t, "docker with imgbuild-base:latest (scripts/test-setup.sh): "+err.Error())
	}
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// uniqueBase makes an image of its own from imgbuild-base (a distinct
// image id, not just a tag), so that `docker ps --filter ancestor=` finds
// this test's containers only, not those of tests running alongside.
func uniqueBase(t *testing.T) string {
	t.Helper()
	name := unique("imgbuild-plugin-e2e-base-")
	cmd := exec.Command("docker", "build", "-q", "-t", name, "-")
	cmd.Stdin = strings.NewReader("FROM imgbuild-base:latest\nLABEL imgbuild-test=" + name + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", name).Run() })
	return name
}

// startBuild starts `imgbuild build ARGS .` in dir with the plugins of
// pluginDir, and returns once its output shows want. A build still running
// when the test ends is killed.
func startBuild(t *testing.T, dir, pluginDir, want string, args ...string) (*exec.Cmd, *testenv.SyncBuffer) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), append(append([]string{"build"}, args...), ".")...)
	cmd.Dir = dir
	cmd.Env = pluginEnv(t, pluginDir)
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the build never printed %q:\n%s", want, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cmd, out
}

// pluginProcesses lists running processes of the binaries under dir.
func pluginProcesses(t *testing.T, dir string) []string {
	t.Helper()
	out, _ := exec.Command("pgrep", "-af", dir).Output()
	var procs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.Contains(line, "pgrep") {
			procs = append(procs, line)
		}
	}
	return procs
}

const dockerTemplate = `
packer {
  required_plugins {
    %[1]s = {
      source  = "github.com/hashicorp/docker"
      version = ">= 1.0.0"
    }
  }
}

variable "image" { type = string }

source "%[1]s" "x" {
  image  = var.image
  commit = true
  pull   = false
}

build {
  sources = ["source.%[1]s.x"]
  provisioner "shell" {
    inline = ["mkdir -p /etc/app", "echo provisioned by $PACKER_BUILDER_TYPE > /etc/app/by.txt", "%[2]s"]
  }
  provisioner "file" {
    content     = "setting = 1\n"
    destination = "/etc/app/app.conf"
  }
  post-processor "%[3]s" {
    repository = "%[4]s"
    tags       = ["t"]
  }
}
`

func dockerBuildTemplate(t *testing.T, localName, postProcessor, repo, extraCommand string) string {
	if extraCommand == "" {
		extraCommand = "true"
	}
	return writeTemplate(t, fmt.Sprintf(dockerTemplate, localName, extraCommand, postProcessor, repo))
}

func TestTheDockerPluginBuilderMakesTheSameImageAsTheNativeBuilder(t *testing.T) {
	needDocker(t)
	plugins := testenv.PluginDir(t, "docker")
	base := uniqueBase(t)

	files := map[string]string{}
	for _, c := range []struct{ name, local, pp string }{
		{"native", "docker", "docker-tag"},
		// A local name other than "docker" forces the plugin: the native
		// builder keeps the "docker" type.
		{"plugin", "extdocker", "extdocker-tag"},
	} {
		repo := unique("imgbuild-plugin-e2e-" + c.name + "-")
		dir := dockerBuildTemplate(t, c.local, c.pp, repo, "")
		r := imgbuild(t, dir, plugins, "build", "-var", "image="+base, ".")
		t.Cleanup(func() { exec.Command("docker", "rmi", repo+":t").Run() })
		if r.code != 0 {
			t.Fatalf("%s build failed:\n%s", c.name, r)
		}
		if c.name == "plugin" {
			for _, want := range []string{"==> " + c.local + ".x: Starting docker container...", "Repository: " + repo + ":t"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("the plugin's UI line %q is missing:\n%s", want, r.stdout)
				}
			}
		}
		// The plugin commits its container's /bin/sh entrypoint (as under Packer).
		files[c.name] = docker(t, "run", "--rm", "--entrypoint", "sh", repo+":t", "-c", "cat /etc/app/by.txt /etc/app/app.conf")
		if ps := docker(t, "ps", "-aq", "--filter", "ancestor="+base); strings.TrimSpace(ps) != "" {
			t.Errorf("%s build left containers: %s", c.name, ps)
		}
	}
	if files["native"] != "provisioned by docker\nsetting = 1\n" {
		t.Errorf("native image files = %q", files["native"])
	}
	if files["plugin"] != "provisioned by extdocker\nsetting = 1\n" {
		t.Errorf("plugin image files = %q (native: %q)", files["plugin"], files["native"])
	}
	if procs := pluginProcesses(t, plugins); len(procs) > 0 {
		t.Errorf("plugin processes left: %v", procs)
	}
}

func TestCtrlCDuringAPluginBuildRunsItsCleanupAndLeavesNoProcess(t *testing.T) {
	needDocker(t)
	plugins := testenv.PluginDir(t, "docker")
	base := uniqueBase(t)
	dir := dockerBuildTemplate(t, "extdocker", "extdocker-tag", unique("imgbuild-plugin-e2e-never-"), "echo started; sleep 120")

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, out := startBuild(t, dir, plugins, "extdocker.x: started", "-var", "image="+base)
			sent := time.Now()
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("imgbuild did not exit within 10 s of %s:\n%s", sig, out)
			}
			t.Logf("exited %s after %s", sig, time.Since(sent).Round(time.Millisecond))
			// Plugin processes die with imgbuild, even after kill -9.
			var procs []string
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
				if procs = pluginProcesses(t, plugins); len(procs) == 0 {
					break
				}
			}
			if len(procs) > 0 {
				t.Errorf("plugin processes left after %s: %v", sig, procs)
			}
			// Ctrl-C removes the run folder with the plugins' folders in it;
			// after kill -9 it is left, and imgbuild cleanup removes it.
			tmp := envValue(cmd.Env, "TMPDIR")
			if left := imgbuildTempDirs(t, tmp); sig == syscall.SIGINT && len(left) > 0 {
				t.Errorf("temporary folders left after Ctrl-C: %v", left)
			} else if sig == syscall.SIGKILL {
				if len(left) == 0 {
					t.Errorf("no temporary folder left after kill -9: the test no longer shows cleanup removing them")
				}
				clean := exec.Command(testenv.Binary(t), "cleanup")
				clean.Env = cmd.Env
				if out, err := clean.CombinedOutput(); err != nil || !strings.Contains(string(out), "removed temporary folder") {
					t.Errorf("imgbuild cleanup (%v) did not say it removed the temporary folders:\n%s", err, out)
				}
				if left := imgbuildTempDirs(t, tmp); len(left) > 0 {
					t.Errorf("imgbuild cleanup left temporary folders: %v", left)
				}
			}
			ps := strings.Fields(docker(t, "ps", "-aq", "--filter", "ancestor="+base))
			if sig == syscall.SIGINT {
				if len(ps) > 0 {
					t.Errorf("the plugin's cleanup did not remove its container %v:\n%s", ps, out)
				}
				if !strings.Contains(out.String(), "cancelled") {
					t.Errorf("the build is not reported as cancelled:\n%s", out)
				}
			}
			// After kill -9 the plugin's container is the docker daemon's:
			// nothing in imgbuild's process can remove it.
			for _, id := range ps {
				exec.Command("docker", "rm", "-f", id).Run()
			}
		})
	}
}

func TestPluginBlocksValidateWithThePluginsOwnDiagnosticsAtTheirLines(t *testing.T) {
	plugins := testenv.PluginDir(t, "azure", "googlecompute")
	dir := writeTemplate(t, `packer {
  required_plugins {
    azure = {
      source  = "github.com/hashicorp/azure"
      version = ">= 1.0.0"
    }
  }
}

source "azure-arm" "a" {
  subscription_id = "00000000-0000-0000-0000-000000000000"
  os_type         = "Linux"
  vm_size_typo    = "Standard_DS2_v2"
}

source "googlecompute" "g" {
  source_image = "debian-12"
  zone         = "us-central1-a"
  disk_size    = "big"
}

build {
  sources = ["source.azure-arm.a", "source.googlecompute.g"]
}
`)
	r := imgbuild(t, dir, plugins, "validate", ".")
	if r.code != 1 {
		t.Fatalf("validate exit %d, want 1:\n%s", r.code, r)
	}
	for _, want := range []string{
		"on main.pkr.hcl line 13, column 3", `An argument named "vm_size_typo" is not expected here`,
		"on main.pkr.hcl line 19, column 18", `Inappropriate value for attribute "disk_size": a number is required`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// With the options right, what is missing is the plugin's own finding,
	// at the block.
	fixed := strings.NewReplacer(`  vm_size_typo    = "Standard_DS2_v2"`, `  vm_size = "Standard_DS2_v2"`, `"big"`, `10`).Replace(readFile(t, filepath.Join(dir, "main.pkr.hcl")))
	os.WriteFile(filepath.Join(dir, "main.pkr.hcl"), []byte(fixed), 0o644)
	r = imgbuild(t, dir, plugins, "validate", "-only", "googlecompute.g", ".")
	if r.code != 1 || !strings.Contains(r.stderr, "a project_id must be specified") || !strings.Contains(r.stderr, "on main.pkr.hcl line 16, column 1") {
		t.Errorf("googlecompute's own errors missing or unlocated:\n%s", r)
	}
	r = imgbuild(t, dir, plugins, "validate", "-only", "azure-arm.a", ".")
	if r.code != 1 || !strings.Contains(r.stderr, "An image_publisher must be specified") || !strings.Contains(r.stderr, "on main.pkr.hcl line 10, column 1") {
		t.Errorf("azure-arm's own errors missing or unlocated:\n%s", r)
	}
	if strings.Contains(r.stderr, "[DEBUG]") || strings.Contains(r.stderr, "[WARN]") {
		t.Errorf("the SDK's log lines reach the user:\n%s", r.stderr)
	}
	if r := imgbuild(t, dir, t.TempDir(), "validate", "-syntax-only", "."); r.code != 0 {
		t.Errorf("-syntax-only needs no plugin (none installed here):\n%s", r)
	}
	if procs := pluginProcesses(t, plugins); len(procs) > 0 {
		t.Errorf("plugin processes left: %v", procs)
	}
}

func TestAPluginBuildThatFailsAtAuthenticationLeavesNothingRunning(t *testing.T) {
	plugins := testenv.PluginDir(t, "azure")
	dir := writeTemplate(t, `packer {
  required_plugins {
    azure = {
      source  = "github.com/hashicorp/azure"
      version = ">= 1.0.0"
    }
  }
}
source "azure-arm" "a" {
  client_id                         = "00000000-0000-0000-0000-000000000000"
  client_secret                     = "not-a-secret"
  subscription_id                   = "00000000-0000-0000-0000-000000000000"
  tenant_id                         = "00000000-0000-0000-0000-000000000000"
  os_type                           = "Linux"
  image_publisher                   = "Canonical"
  image_offer                       = "UbuntuServer"
  image_sku                         = "18.04-LTS"
  location                          = "East US"
  vm_size                           = "Standard_DS2_v2"
  managed_image_name                = "img"
  managed_image_resource_group_name = "rg"
}
build {
  sources = ["source.azure-arm.a"]
}
`)
	r := imgbuild(t, dir, plugins, "build", ".")
	if r.code != 1 {
		t.Fatalf("build exit %d, want 1:\n%s", r.code, r)
	}
	t.Logf("%s", r)
	if !strings.Contains(r.stdout+r.stderr, "Build 'azure-arm.a' errored") {
		t.Errorf("no build error:\n%s", r)
	}
	if strings.Contains(r.stdout+r.stderr, "not-a-secret") {
		t.Errorf("the client secret is printed:\n%s", r)
	}
	if procs := pluginProcesses(t, plugins); len(procs) > 0 {
		t.Errorf("plugin processes left: %v", procs)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
