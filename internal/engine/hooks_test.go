package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/template"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func TestOnErrorModesDecideWhatIsKept(t *testing.T) {
	tests := []struct {
		name           string
		onError        OnError
		input          string
		wantKept       bool
		wantErrCleanup bool
	}{
		{"cleanup removes and runs error cleanup", OnErrorCleanup, "", false, true},
		{"abort keeps and skips error cleanup", OnErrorAbort, "", true, false},
		{"run-cleanup-provisioner runs it and keeps", OnErrorRunCleanupProvisioner, "", true, true},
		{"ask answered a keeps", OnErrorAsk, "a\n", true, true},
		{"ask answered c cleans up", OnErrorAsk, "x\nc\n", false, true},
		{"ask without input cleans up", OnErrorAsk, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			marker := filepath.Join(root, "error-cleanup-ran")
			plan := dirPlan(root, "e", shellPlan("exit 1"))
			plan.ErrorCleanup = shellPlan("touch " + marker)
			var out syncBuffer
			u := ui.New(ui.Options{Out: &out, In: strings.NewReader(tt.input)})
			res := NewRunner(Options{UI: u, OnError: tt.onError}).Run(context.Background(), []*template.BuildPlan{plan})
			if res[0].Err == nil {
				t.Fatal("the build should fail")
			}
			if kept := len(machines(t, root)) == 1; kept != tt.wantKept {
				t.Errorf("machine kept = %v, want %v\n%s", kept, tt.wantKept, out.String())
			}
			_, err := os.Stat(marker)
			if ran := err == nil; ran != tt.wantErrCleanup {
				t.Errorf("error-cleanup-provisioner ran = %v, want %v", ran, tt.wantErrCleanup)
			}
		})
	}
}

func TestOnErrorAskRetryRunsTheFailedStepAgain(t *testing.T) {
	root := t.TempDir()
	marker := filepath.Join(t.TempDir(), "first-attempt")
	// Fails on the first attempt only: the answer "r" must make it pass.
	plan := dirPlan(root, "r", shellPlan("test -e "+marker+" || { touch "+marker+"; exit 1; }"))
	var out syncBuffer
	u := ui.New(ui.Options{Out: &out, In: strings.NewReader("r\n")})
	res := NewRunner(Options{UI: u, OnError: OnErrorAsk}).Run(context.Background(), []*template.BuildPlan{plan})
	if res[0].Err != nil {
		t.Fatalf("build failed after retry: %v\n%s", res[0].Err, out.String())
	}
	if !strings.Contains(out.String(), "[r] retry step") {
		t.Errorf("the question did not offer retry:\n%s", out.String())
	}
	if left := machines(t, root); len(left) != 0 {
		t.Errorf("machines left after a successful retry: %v", left)
	}
}

func TestDebugPausesBeforeEachStepUntilEnter(t *testing.T) {
	root := t.TempDir()
	var out syncBuffer
	u := ui.New(ui.Options{Out: &out, In: strings.NewReader("\n\n")})
	res := NewRunner(Options{UI: u, Debug: true}).Run(context.Background(), []*template.BuildPlan{dirPlan(root, "d", shellPlan("true"))})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	for _, step := range []string{"create machine", "provision"} {
		if !strings.Contains(out.String(), `Pausing before step "`+step+`"`) {
			t.Errorf("no pause before %s:\n%s", step, out.String())
		}
	}
	// Without answers the build stops at the first pause.
	u = ui.New(ui.Options{Out: &out, In: strings.NewReader("")})
	res = NewRunner(Options{UI: u, Debug: true}).Run(context.Background(), []*template.BuildPlan{dirPlan(root, "d", shellPlan("true"))})
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "-debug pause") {
		t.Errorf("err = %v, want the pause to fail without input", res[0].Err)
	}
}

func TestProvisionerRetriesTimeoutAndPauseBefore(t *testing.T) {
	root := t.TempDir()
	counter := filepath.Join(root, "attempts")
	// Fails on the first two attempts, succeeds on the third.
	flaky := shellPlan("echo x >> "+counter, "test $(wc -l < "+counter+") -ge 3")
	flaky.MaxRetries = 2
	slow := shellPlan("sleep 30")
	slow.Timeout = 300 * time.Millisecond
	paused := shellPlan("true")
	paused.PauseBefore = 50 * time.Millisecond

	var out syncBuffer
	r := runner(&out, func(o *Options) { o.RetryPause = 10 * time.Millisecond })
	res := r.Run(context.Background(), []*template.BuildPlan{dirPlan(root, "r", paused, flaky)})
	if res[0].Err != nil {
		t.Fatalf("flaky provisioner with max_retries failed: %v\n%s", res[0].Err, out.String())
	}
	if !strings.Contains(out.String(), "Pausing 50ms before the next provisioner") {
		t.Errorf("pause_before not announced:\n%s", out.String())
	}
	start := time.Now()
	res = r.Run(context.Background(), []*template.BuildPlan{dirPlan(root, "t", slow)})
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "timed out after 300ms") {
		t.Errorf("err = %v, want the timeout", res[0].Err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %s", d)
	}
}
