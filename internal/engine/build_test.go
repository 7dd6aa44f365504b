package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/template"
)

func TestFailingProvisionerFailsBuildRunsErrorCleanupAndRemovesMachine(t *testing.T) {
	root := t.TempDir()
	marker := filepath.Join(root, "error-cleanup-ran")
	plan := dirPlan(root, "one",
		shellPlan("echo about to fail", "exit 7"),
		shellPlan("echo never runs"),
	)
	plan.ErrorCleanup = shellPlan("touch " + marker)
	var out syncBuffer
	res := runner(&out, nil).Run(context.Background(), []*template.BuildPlan{plan})

	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "exit status: 7") {
		t.Fatalf("build error = %v, want the exit status", res[0].Err)
	}
	s := out.String()
	for _, want := range []string{"    test.one: about to fail", "Running the cleanup provisioner", "Build 'test.one' errored after"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "never runs") {
		t.Errorf("a provisioner after the failure ran:\n%s", s)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("error-cleanup-provisioner did not run: %v", err)
	}
	if m := machines(t, root); len(m) != 0 {
		t.Errorf("machine left behind after a failed build: %v", m)
	}
}

func TestOnErrorAbortKeepsMachineAndSkipsErrorCleanup(t *testing.T) {
	root := t.TempDir()
	marker := filepath.Join(root, "error-cleanup-ran")
	plan := dirPlan(root, "one", shellPlan("exit 1"))
	plan.ErrorCleanup = shellPlan("touch " + marker)
	var out syncBuffer
	res := runner(&out, func(o *Options) { o.OnError = OnErrorAbort }).Run(context.Background(), []*template.BuildPlan{plan})
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "kept for inspection") {
		t.Fatalf("error = %v, want resources kept", res[0].Err)
	}
	if m := machines(t, root); len(m) != 1 {
		t.Errorf("machines left = %v, want the failed one kept", m)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("-on-error=abort ran the error-cleanup-provisioner")
	}
}

func TestCancelStopsLongProvisionerQuicklyAndCleansUp(t *testing.T) {
	root := t.TempDir()
	plans := []*template.BuildPlan{
		dirPlan(root, "a", shellPlan("echo started", "sleep 60")),
		dirPlan(root, "b", shellPlan("echo started", "sleep 60")),
	}
	var out syncBuffer
	ctx, cancel := context.WithCancelCause(context.Background())
	r := runner(&out, nil)
	done := make(chan []Result)
	go func() { done <- r.Run(ctx, plans) }()
	waitFor(t, func() bool { return strings.Count(out.String(), ": started") == 2 })
	start := time.Now()
	cancel(errors.New("interrupted"))
	select {
	case res := <-done:
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("builds took %s to stop", d)
		}
		for _, rs := range res {
			if rs.Err == nil {
				t.Errorf("%s succeeded after cancel", rs.Name)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("builds still running 10s after cancel; unfinished: %v", r.Unfinished())
	}
	if m := machines(t, root); len(m) != 0 {
		t.Errorf("machines left after cancel: %v", m)
	}
	if u := r.Unfinished(); len(u) != 0 {
		t.Errorf("unfinished after Run returned: %v", u)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestParallelBuildsInterleaveWithCorrectPrefixes(t *testing.T) {
	script := []string{"for i in 1 2 3 4 5; do echo \"line $i from $PACKER_BUILD_NAME\"; sleep 0.1; done"}
	tests := []struct {
		name       string
		parallel   int
		interleave bool
	}{
		{"unlimited runs both at once", 0, true},
		{"one at a time runs them in turn", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			var out syncBuffer
			res := runner(&out, func(o *Options) { o.Parallel = tt.parallel }).Run(context.Background(), []*template.BuildPlan{
				dirPlan(root, "a", shellPlan(script...)), dirPlan(root, "b", shellPlan(script...)),
			})
			for _, r := range res {
				if r.Err != nil {
					t.Fatalf("%s: %v", r.Name, r.Err)
				}
			}
			var seq []string
			for _, line := range strings.Split(out.String(), "\n") {
				for _, n := range []string{"a", "b"} {
					if strings.Contains(line, "from "+n) {
						if !strings.HasPrefix(line, "    test."+n+": line ") {
							t.Errorf("line of build %s has the wrong prefix: %q", n, line)
						}
						seq = append(seq, n)
					}
				}
			}
			if len(seq) != 10 {
				t.Fatalf("got %d output lines, want 10:\n%s", len(seq), out.String())
			}
			switches := 0
			for i := 1; i < len(seq); i++ {
				if seq[i] != seq[i-1] {
					switches++
				}
			}
			if got := switches > 1; got != tt.interleave {
				t.Errorf("interleaved = %v (order %v), want %v", got, seq, tt.interleave)
			}
		})
	}
}

func TestPostProcessorChainsKeepInputArtifactSemantics(t *testing.T) {
	tru, fals := true, false
	tests := []struct {
		name string
		// chains of post-processors: keep is the post-processor's own default
		chains           [][]*testPP
		keepInput        [][]*bool
		wantOriginalKept bool
		wantArtifacts    int
		wantErr          bool
	}{
		{"no chain keeps: original destroyed", [][]*testPP{{{}}}, [][]*bool{{nil}}, false, 1, false},
		{"keep_input_artifact keeps the original", [][]*testPP{{{}}}, [][]*bool{{&tru}}, true, 2, false},
		{"one of two chains keeping is enough", [][]*testPP{{{}}, {{}}}, [][]*bool{{nil}, {&tru}}, true, 3, false},
		{"post-processor default keep", [][]*testPP{{{keep: true}}}, [][]*bool{{nil}}, true, 2, false},
		{"keep_input_artifact=false overrides a default keep", [][]*testPP{{{keep: true}}}, [][]*bool{{&fals}}, false, 1, false},
		{"forced keep wins over keep_input_artifact=false", [][]*testPP{{{keep: true, force: true}}}, [][]*bool{{&fals}}, true, 2, false},
		{"failing chain keeps the original and fails the build", [][]*testPP{{{fail: true}}}, [][]*bool{{nil}}, true, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			plan := dirPlan(root, "pp")
			var orig *testArtifact
			plan.Builder = &fixedBuilder{make: func() *testArtifact { orig = newArtifact("orig"); return orig }}
			for ci, chain := range tt.chains {
				var c []*template.PostProcessorPlan
				for i, p := range chain {
					c = append(c, ppPlan(p, tt.keepInput[ci][i]))
				}
				plan.PostProcessors = append(plan.PostProcessors, c)
			}
			var out syncBuffer
			res := runner(&out, nil).Run(context.Background(), []*template.BuildPlan{plan})
			if (res[0].Err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", res[0].Err, tt.wantErr)
			}
			if kept := !orig.destroyed.Load(); kept != tt.wantOriginalKept {
				t.Errorf("original kept = %v, want %v\n%s", kept, tt.wantOriginalKept, out.String())
			}
			if len(res[0].Artifacts) != tt.wantArtifacts {
				t.Errorf("artifacts = %d, want %d", len(res[0].Artifacts), tt.wantArtifacts)
			}
		})
	}
}

func TestIntermediateArtifactDestroyedUnlessKept(t *testing.T) {
	first, second := &testPP{}, &testPP{}
	plan := dirPlan(t.TempDir(), "pp")
	plan.Builder = &fixedBuilder{make: func() *testArtifact { return newArtifact("orig") }}
	plan.PostProcessors = [][]*template.PostProcessorPlan{{ppPlan(first, nil), ppPlan(second, nil)}}
	var out syncBuffer
	res := runner(&out, nil).Run(context.Background(), []*template.BuildPlan{plan})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if !first.made.destroyed.Load() {
		t.Error("the intermediate artifact was not destroyed")
	}
	if second.made.destroyed.Load() || len(res[0].Artifacts) != 1 || res[0].Artifacts[0] != second.made {
		t.Errorf("the chain's last artifact should be the result: %v", res[0].Artifacts)
	}
}
