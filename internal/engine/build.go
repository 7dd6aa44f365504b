// Package engine runs the builds of a template: each BuildPlan's builder
// with its provisioners, then its post-processor chains, in parallel up to
// a limit, and reports what they made.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/template"
	"github.com/imgbuild/imgbuild/internal/ui"
)

// OnError is what happens to a failed build's resources (-on-error).
type OnError string

const (
	OnErrorCleanup               OnError = "cleanup"
	OnErrorAbort                 OnError = "abort"
	OnErrorAsk                   OnError = "ask"
	OnErrorRunCleanupProvisioner OnError = "run-cleanup-provisioner"
)

// ParseOnError checks an -on-error value.
func ParseOnError(s string) (OnError, error) {
	switch o := OnError(s); o {
	case OnErrorCleanup, OnErrorAbort, OnErrorAsk, OnErrorRunCleanupProvisioner:
		return o, nil
	case "":
		return OnErrorCleanup, nil
	}
	return "", fmt.Errorf("-on-error=%s is not known: use cleanup, abort, ask or run-cleanup-provisioner", s)
}

// Options steer a run.
type Options struct {
	UI *ui.Root
	// Parallel is the most builds that run at once; 0 means no limit.
	Parallel int
	OnError  OnError
	Debug    bool // pause before each step
	Force    bool
	RunUUID  string
	// RetryPause is the wait between attempts of a provisioner with
	// max_retries (2s when 0).
	RetryPause time.Duration
	// Cache, when not nil (-cache), checkpoints the machine after each
	// provisioner and resumes builds from their longest cached prefix.
	Cache *cache.Store
	// Shared, when not nil (-cache-url), is the shared cache behind Cache:
	// checkpoints missing locally are downloaded from it, new ones stored.
	Shared SharedCache
	// CacheWait is how long a build waits for another runner that holds
	// the shared cache's lease on the step it would build (0: not at all).
	CacheWait time.Duration
	// Template is the template's path, recorded in cache entries.
	Template string
	// CacheVMStates is how many of a build's last checkpoints keep the
	// machine's running state too (plugin.Resume.VMStates).
	CacheVMStates int
}

// Result is what one build did.
type Result struct {
	Name      string
	Artifacts []plugin.Artifact
	Err       error
	Duration  time.Duration
}

// Runner runs builds and knows which have not finished yet.
type Runner struct {
	opts       Options
	mu         sync.Mutex
	unfinished map[string]bool
}

// NewRunner returns a runner with opts.
func NewRunner(opts Options) *Runner {
	if opts.OnError == "" {
		opts.OnError = OnErrorCleanup
	}
	if opts.RetryPause <= 0 {
		opts.RetryPause = 2 * time.Second
	}
	return &Runner{opts: opts, unfinished: map[string]bool{}}
}

// Unfinished lists the builds that are still running or cleaning up.
func (r *Runner) Unfinished() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.unfinished))
	for n := range r.unfinished {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Run runs every plan and returns one result per plan, in plan order.
// Cancelling ctx cancels every build; their cleanups still run.
func (r *Runner) Run(ctx context.Context, plans []*template.BuildPlan) []Result {
	results := make([]Result, len(plans))
	uis := make([]*ui.BuildUI, len(plans))
	r.mu.Lock()
	for i, p := range plans {
		uis[i] = r.opts.UI.Build(p.Name)
		r.unfinished[p.Name] = true
	}
	r.mu.Unlock()
	if !r.opts.UI.MachineReadable() {
		for _, u := range uis {
			u.Line("output will be in this color.")
		}
		r.opts.UI.Message("")
	}
	var slots chan struct{}
	if r.opts.Parallel > 0 {
		slots = make(chan struct{}, r.opts.Parallel)
	}
	var wg sync.WaitGroup
	for i, p := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.finished(p.Name)
			if slots != nil {
				select {
				case slots <- struct{}{}:
					defer func() { <-slots }()
				case <-ctx.Done():
					results[i] = Result{Name: p.Name, Err: fmt.Errorf("build cancelled before it started: %w", context.Cause(ctx))}
					return
				}
			}
			results[i] = r.runOne(ctx, p, uis[i])
		}()
	}
	wg.Wait()
	return results
}

func (r *Runner) finished(name string) {
	r.mu.Lock()
	delete(r.unfinished, name)
	r.mu.Unlock()
}

// runOne runs one build: builder (with provisioners), then post-processors.
func (r *Runner) runOne(ctx context.Context, p *template.BuildPlan, u *ui.BuildUI) Result {
	start := time.Now()
	b := &buildRun{opts: r.opts, plan: p, ui: u}
	env := &plugin.BuildEnv{
		UI:         u,
		Name:       p.Name,
		SourceName: p.SourceName,
		RunUUID:    r.opts.RunUUID,
		Force:      r.opts.Force,
		Provision:  b.provision,
		Steps:      b.stepHooks(),
	}
	if r.opts.Cache != nil {
		b.cache, env.Resume = b.planCache(ctx, r.opts.Cache)
		if env.Resume != nil && env.Resume.Complete {
			// The builder need not call Provision: say it here.
			b.sayRestored()
		}
		if b.cache != nil && r.opts.Shared != nil {
			_, holdLast := p.Builder.(plugin.LastCheckpointFinisher)
			b.cache.pusher = startSharePusher(ctx, r.opts.Shared, r.opts.Cache, b.cache.keys, holdLast, u)
		}
	}
	res := Result{Name: p.Name}
	art, err := runBuilder(ctx, p.Builder, env)
	if b.cache != nil && b.cache.pusher != nil {
		b.cache.pusher.finish(ctx)
	}
	if b.cache != nil && b.cache.release != nil {
		b.cache.release() // after the push: a waiting runner then finds the checkpoints
	}
	switch {
	case err != nil:
		res.Err = err
	case art == nil:
		u.Say("Build finished but produced no artifact.")
	default:
		res.Artifacts, res.Err = b.postProcess(ctx, art)
	}
	res.Duration = time.Since(start)
	if res.Err != nil {
		r.opts.UI.Error(fmt.Sprintf("Build '%s' errored after %s: %s", p.Name, FormatDuration(res.Duration), res.Err))
		u.Machine("error", res.Err.Error())
	} else {
		r.opts.UI.Message(fmt.Sprintf("Build '%s' finished after %s.", p.Name, FormatDuration(res.Duration)))
	}
	return res
}

// runBuilder turns a builder's panic into an error: one broken plugin
// must not take the other builds (and their cleanups) down with it.
func runBuilder(ctx context.Context, b plugin.Builder, env *plugin.BuildEnv) (art plugin.Artifact, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the builder crashed (a bug in imgbuild, please report it): %v", v)
		}
	}()
	if b == nil {
		return nil, errors.New("the build has no builder")
	}
	return b.Run(ctx, env)
}

// buildRun is the state of one build while it runs.
type buildRun struct {
	opts Options
	plan *template.BuildPlan
	ui   *ui.BuildUI

	mu        sync.Mutex
	generated plugin.GeneratedData
	// cache is nil without -cache.
	cache *buildCache
}
