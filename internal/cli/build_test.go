package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/engine"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/steps"
	"github.com/imgbuild/imgbuild/internal/template"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// waitBuilder holds a "resource" until its build ends: with block set it
// waits for cancellation; its cleanup takes cleanupTime.
type waitBuilder struct {
	block       bool
	fail        bool
	cleanupTime time.Duration
	started     chan struct{}
	cleaned     atomic.Bool
}

func (b *waitBuilder) Config() any                { return b }
func (b *waitBuilder) Prepare() ([]string, error) { return nil, nil }
func (b *waitBuilder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	var st struct{}
	err := steps.Run(ctx, &st, steps.Options{KeepOnFailure: env.Steps.KeepOnFailure},
		steps.Step[struct{}]{Name: "create", Run: func(ctx context.Context, _ *struct{}) (steps.Cleanup, error) {
			env.UI.Say("Creating resource")
			return func(ctx context.Context) error {
				select {
				case <-time.After(b.cleanupTime):
				case <-ctx.Done():
				}
				b.cleaned.Store(true)
				return nil
			}, nil
		}},
		steps.Step[struct{}]{Name: "work", Run: func(ctx context.Context, _ *struct{}) (steps.Cleanup, error) {
			if b.started != nil {
				close(b.started)
			}
			if b.fail {
				return nil, errors.New("work failed")
			}
			if b.block {
				<-ctx.Done()
				return nil, context.Cause(ctx)
			}
			return nil, nil
		}},
	)
	if err != nil {
		return nil, err
	}
	return artifact{}, nil
}

type artifact struct{}

func (artifact) BuilderID() string             { return "imgbuild.test" }
func (artifact) ID() string                    { return "img-1" }
func (artifact) Files() []string               { return nil }
func (artifact) String() string                { return "Test image: img-1" }
func (artifact) State(string) any              { return nil }
func (artifact) Destroy(context.Context) error { return nil }

func plan(name string, b plugin.Builder) *template.BuildPlan {
	return &template.BuildPlan{Name: "test." + name, SourceType: "test", SourceName: name, Builder: b}
}

func exitOf(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}

func TestBuildExitsZeroOnlyWhenEveryBuildSucceeded(t *testing.T) {
	tests := []struct {
		name     string
		builders []*waitBuilder
		want     int
		wantOut  []string
	}{
		{"all succeed", []*waitBuilder{{}, {}}, 0, []string{"==> Builds finished. The artifacts of successful builds are:", "--> test.b0: Test image: img-1", "--> test.b1: Test image: img-1"}},
		{"one fails", []*waitBuilder{{}, {fail: true}}, 1, []string{"Build 'test.b1' errored after", "--> test.b1: work: work failed", "--> test.b0: Test image: img-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var plans []*template.BuildPlan
			for i, b := range tt.builders {
				plans = append(plans, plan("b"+string(rune('0'+i)), b))
			}
			var out testenv.SyncBuffer
			s := &Streams{In: strings.NewReader(""), Out: &out, Err: &out}
			err := executePlans(context.Background(), s, buildOptions{}, engine.OnErrorCleanup, plans, nil)
			if got := exitOf(err); got != tt.want {
				t.Fatalf("exit = %d (%v), want %d\n%s", got, err, tt.want, out.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for i, b := range tt.builders {
				if !b.cleaned.Load() {
					t.Errorf("build %d was not cleaned up", i)
				}
			}
		})
	}
}

func TestFirstInterruptCancelsAndCleansUpSecondStopsWaiting(t *testing.T) {
	t.Run("first interrupt: builds cancelled, cleanups run, exit 1", func(t *testing.T) {
		b := &waitBuilder{block: true, started: make(chan struct{})}
		sigs := make(chan os.Signal, 2)
		var out testenv.SyncBuffer
		s := &Streams{In: strings.NewReader(""), Out: &out, Err: &out}
		done := make(chan error, 1)
		go func() {
			done <- executePlans(context.Background(), s, buildOptions{}, engine.OnErrorCleanup, []*template.BuildPlan{plan("x", b)}, sigs)
		}()
		<-b.started
		sigs <- syscall.SIGINT
		select {
		case err := <-done:
			if exitOf(err) != 1 {
				t.Errorf("exit = %d, want 1", exitOf(err))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("build still running 10s after the interrupt")
		}
		if !b.cleaned.Load() {
			t.Error("cleanup did not run after the interrupt")
		}
		if !strings.Contains(out.String(), "cancelling every build") {
			t.Errorf("no word about the interrupt:\n%s", out.String())
		}
	})
	t.Run("second interrupt: stop waiting for a slow cleanup and name the build", func(t *testing.T) {
		b := &waitBuilder{block: true, started: make(chan struct{}), cleanupTime: time.Minute}
		sigs := make(chan os.Signal, 2)
		var out testenv.SyncBuffer
		s := &Streams{In: strings.NewReader(""), Out: &out, Err: &out}
		done := make(chan error, 1)
		go func() {
			done <- executePlans(context.Background(), s, buildOptions{}, engine.OnErrorCleanup, []*template.BuildPlan{plan("slow", b)}, sigs)
		}()
		<-b.started
		sigs <- syscall.SIGINT
		sigs <- syscall.SIGINT // the same Ctrl-C delivered twice: still waiting
		time.Sleep(700 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("a duplicate interrupt stopped the wait: %v", err)
		default:
		}
		sigs <- syscall.SIGTERM
		select {
		case err := <-done:
			if exitOf(err) != 1 {
				t.Errorf("exit = %d, want 1", exitOf(err))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("still waiting after the second interrupt")
		}
		if !strings.Contains(out.String(), "may have left resources behind") || !strings.Contains(out.String(), "test.slow") {
			t.Errorf("the unfinished build is not named:\n%s", out.String())
		}
	})
}

func TestBuildRejectsBadFlagValues(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"build", "-on-error=explode", "x.pkr.hcl"}, "-on-error=explode is not known"},
		{[]string{"build", "-parallel-builds=-1", "x.pkr.hcl"}, "-parallel-builds=-1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(tt.args, strings.NewReader(""), &out, &errOut)
			if code != 1 || !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errOut.String(), tt.want)
			}
		})
	}
}

// nullTemplate has two builds on the null builder (no machine) whose
// shell-local provisioner and post-processors run for real on this host.
const nullTemplate = `
variable "token" {
  type      = string
  default   = "tok-1234567890-secret"
  sensitive = true
}
variable "fail" {
  type    = bool
  default = false
}
source "null" "a" {
  communicator = "none"
}
source "null" "b" {
  communicator = "none"
}
build {
  sources = ["source.null.a", "source.null.b"]
  provisioner "shell-local" {
    inline = [
      "echo token=${var.token} for ${source.name}",
      "echo $PACKER_BUILD_NAME > DIR/out-${source.name}.txt",
      "${var.fail ? "exit 9" : "true"}",
    ]
  }
  post-processor "manifest" {
    output      = "DIR/manifest.json"
    custom_data = { t = var.token }
  }
}
`

func TestBuildCommandRunsTemplateEndToEnd(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantOut   []string
		wantFiles []string
		noFiles   []string
	}{
		{"both builds succeed", nil, 0, []string{"    null.a: token=<sensitive> for a", "--> null.b: "}, []string{"out-a.txt", "out-b.txt", "manifest.json"}, nil},
		{"-only picks one build", []string{"-only=null.b"}, 0, []string{"null.b: token=<sensitive> for b"}, []string{"out-b.txt"}, []string{"out-a.txt"}},
		{"-except skips one build", []string{"-except=null.b"}, 0, []string{"null.a: token"}, []string{"out-a.txt"}, []string{"out-b.txt"}},
		{"machine-readable rows", []string{"-machine-readable"}, 0, []string{",,ui,message,    null.a: token=<sensitive> for a\n", ",null.a,artifact-count,1\n"}, nil, nil},
		{"failing provisioner exits 1 with its status", []string{"-var", "fail=true"}, 1, []string{"exit status: 9", "Some builds didn't complete successfully"}, nil, []string{"manifest.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tpl := filepath.Join(dir, "t.pkr.hcl")
			os.WriteFile(tpl, []byte(strings.ReplaceAll(nullTemplate, "DIR", dir)), 0o644)
			logPath := filepath.Join(dir, "imgbuild.log")
			t.Setenv("IMGBUILD_LOG_PATH", logPath)
			var out, errOut bytes.Buffer
			args := append(append([]string{"build"}, tt.args...), tpl)
			code := Main(args, strings.NewReader(""), &out, &errOut)
			all := out.String() + errOut.String()
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tt.wantCode, all)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, f := range tt.wantFiles {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("expected %s: %v", f, err)
				}
			}
			for _, f := range tt.noFiles {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s should not exist", f)
				}
			}
			logData, _ := os.ReadFile(logPath)
			manifest, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
			for what, s := range map[string]string{"output": all, "log": string(logData), "manifest": string(manifest)} {
				if strings.Contains(s, "tok-1234567890-secret") {
					t.Errorf("the sensitive value appears in the %s", what)
				}
			}
		})
	}
}

func TestBuildSurvivesClosedStdoutAndFinishes(t *testing.T) {
	bin := testenv.Binary(t)
	dir := t.TempDir()
	tpl := filepath.Join(dir, "t.pkr.hcl")
	os.WriteFile(tpl, []byte(`
source "null" "p" {
  communicator = "none"
}
build {
  sources = ["source.null.p"]
  provisioner "shell-local" {
    inline = ["for i in 1 2 3 4 5; do echo line $i; sleep 0.1; done", "touch `+dir+`/finished"]
  }
}
`), 0o644)
	cmd := exec.Command(bin, "build", tpl)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Read one line, then go away like `| head -1`.
	buf := make([]byte, 1)
	for buf[0] != '\n' {
		if _, err := stdout.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	stdout.Close()
	err = cmd.Wait()
	if _, serr := os.Stat(filepath.Join(dir, "finished")); serr != nil {
		t.Fatalf("the build was killed by the closed pipe (wait: %v)", err)
	}
}
