package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/template"
	"github.com/imgbuild/imgbuild/internal/wait"
)

// errorCleanupTimeout bounds the error-cleanup-provisioner when the build
// was cancelled (it then runs on a fresh context, like cleanups).
const errorCleanupTimeout = 2 * time.Minute

// provision is the build's plugin.ProvisionFunc: it runs the provisioners
// in order and, when one fails, the error-cleanup-provisioner.
func (b *buildRun) provision(ctx context.Context, comm communicator.Communicator, data plugin.GeneratedData) error {
	gen := plugin.GeneratedData{}
	for _, k := range plugin.CommonGeneratedKeys {
		gen[k] = ""
	}
	maps.Copy(gen, data)
	gen["PackerRunUUID"] = b.opts.RunUUID
	b.mu.Lock()
	b.generated = gen
	b.mu.Unlock()

	restored := 0
	if b.cache != nil {
		b.sayRestored()
		restored = b.cache.restored
	}
	for i, p := range b.plan.Provisioners {
		if i < restored {
			continue // the machine started from a checkpoint that holds it
		}
		if err := b.runProvisioner(ctx, p, comm, gen); err != nil {
			b.errorCleanup(ctx, comm, gen)
			return err
		}
		b.checkpoint(ctx, comm, i)
	}
	return nil
}

// errorCleanup runs the error-cleanup-provisioner, unless -on-error=abort
// asked to leave everything as it failed.
func (b *buildRun) errorCleanup(ctx context.Context, comm communicator.Communicator, gen plugin.GeneratedData) {
	p := b.plan.ErrorCleanup
	if p == nil || b.opts.OnError == OnErrorAbort {
		return
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), errorCleanupTimeout)
		defer cancel()
	}
	b.ui.Say("Provisioning step had errors: Running the cleanup provisioner, if present...")
	if err := b.runProvisioner(ctx, p, comm, gen); err != nil {
		b.ui.Error(fmt.Sprintf("The error-cleanup-provisioner failed too: %s", err))
	}
}

// runProvisioner runs one provisioner block with pause_before, timeout and
// max_retries.
func (b *buildRun) runProvisioner(ctx context.Context, p *template.ProvisionerPlan, comm communicator.Communicator, gen plugin.GeneratedData) error {
	label := p.Type
	if p.Name != "" {
		label = fmt.Sprintf("%s %q", p.Type, p.Name)
	}
	where := rangeString(p.DefRange)
	if p.PauseBefore > 0 {
		b.ui.Say(fmt.Sprintf("Pausing %s before the next provisioner...", p.PauseBefore))
		if err := wait.Sleep(ctx, p.PauseBefore); err != nil {
			return fmt.Errorf("provisioner %s%s: %w", label, where, err)
		}
	}
	if p.Configure == nil {
		return fmt.Errorf("provisioner %s%s cannot be configured (no decoder)", label, where)
	}
	prov, diags := p.Configure(gen)
	if diags.HasErrors() {
		return fmt.Errorf("configuring provisioner %s: %w", label, diags)
	}
	env := &plugin.ProvisionEnv{
		UI:         b.ui,
		Comm:       comm,
		Generated:  gen,
		BuildName:  b.plan.Name,
		SourceType: b.plan.SourceType,
		SourceName: b.plan.SourceName,
		RunUUID:    b.opts.RunUUID,
	}
	attempts := max(p.MaxRetries, 0) + 1
	for attempt := 1; ; attempt++ {
		err := provisionOnce(ctx, prov, env, p.Timeout)
		if err == nil {
			return nil
		}
		err = fmt.Errorf("provisioner %s%s: %w", label, where, err)
		if ctx.Err() != nil || attempt >= attempts {
			return err
		}
		b.ui.Error(fmt.Sprintf("%s; retrying (attempt %d of %d) in %s", err, attempt+1, attempts, b.opts.RetryPause))
		if serr := wait.Sleep(ctx, b.opts.RetryPause); serr != nil {
			return err
		}
	}
}

func provisionOnce(ctx context.Context, prov plugin.Provisioner, env *plugin.ProvisionEnv, timeout time.Duration) (err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timed out after %s (the block's timeout)", timeout))
		defer cancel()
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the provisioner crashed (a bug in imgbuild, please report it): %v", v)
		}
	}()
	err = prov.Provision(ctx, env)
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(err, cause) {
		err = fmt.Errorf("%w (%w)", err, cause)
	}
	return err
}

// rangeString is " (file:line,col)" for a block's range, "" when unknown.
func rangeString(r hcl.Range) string {
	if r.Filename == "" {
		return ""
	}
	return fmt.Sprintf(" (%s:%d,%d)", r.Filename, r.Start.Line, r.Start.Column)
}
