package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/template"
)

// destroyTimeout bounds deleting an artifact nobody kept.
const destroyTimeout = 5 * time.Minute

// postProcess runs every chain on the builder's artifact. Each chain
// starts from the builder's artifact; each post-processor's output feeds
// the next. An intermediate artifact is destroyed unless kept; the
// builder's artifact is destroyed only when no chain kept it (and none
// failed, so nothing is lost to a broken chain).
func (b *buildRun) postProcess(ctx context.Context, art plugin.Artifact) ([]plugin.Artifact, error) {
	if len(b.plan.PostProcessors) == 0 {
		return []plugin.Artifact{art}, nil
	}
	env := b.postProcessEnv(art)
	keepOriginal := false
	var out []plugin.Artifact
	var errs []error
	for _, chain := range b.plan.PostProcessors {
		prior := art
		failed := false
		chainKeeps := false // whether this chain keeps the build's own artifact
		for i, pp := range chain {
			next, keep, err := b.runPostProcessor(ctx, pp, env, prior)
			if err != nil {
				errs = append(errs, err)
				failed = true
				switch {
				case i == 0 || prior == art:
					// Nothing was made from the build's artifact yet: keep it.
					chainKeeps = true
				case pp.KeepInputArtifact != nil && *pp.KeepInputArtifact:
					// Asked to keep its input: what the chain made stays, and
					// is listed.
					out = append(out, prior)
				default:
					// What the chain made so far is no result: remove it, and
					// the build's artifact unless another chain keeps it.
					b.ui.Say(fmt.Sprintf("Deleting the artifact of the failed post-processor chain: %s", prior.String()))
					if derr := destroy(ctx, prior); derr != nil {
						errs = append(errs, derr)
					}
					chainKeeps = false
				}
				break
			}
			if next == nil { // nothing new: the next one gets the same input
				if i == 0 {
					chainKeeps = true
				}
				continue
			}
			switch {
			case i == 0:
				chainKeeps = chainKeeps || keep
			case keep:
				out = append(out, prior)
			default:
				b.ui.Say(fmt.Sprintf("Deleting prior artifact from post-processor '%s'", pp.Type))
				if derr := destroy(ctx, prior); derr != nil {
					errs = append(errs, derr)
				}
			}
			prior = next
		}
		if !failed && prior != art {
			out = append(out, prior)
		}
		keepOriginal = keepOriginal || chainKeeps
	}
	if keepOriginal {
		out = append([]plugin.Artifact{art}, out...)
	} else {
		b.ui.Say(fmt.Sprintf("Deleting original artifact for build '%s'", b.plan.Name))
		if err := destroy(ctx, art); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// runPostProcessor configures and runs one post-processor and decides
// whether its input is kept.
func (b *buildRun) runPostProcessor(ctx context.Context, pp *template.PostProcessorPlan, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, error) {
	label := pp.Type
	if pp.Name != "" {
		label = fmt.Sprintf("%s %q", pp.Type, pp.Name)
	}
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("post-processor %s not run: %w", label, context.Cause(ctx))
	}
	if pp.Configure == nil {
		return nil, false, fmt.Errorf("post-processor %s%s cannot be configured (no decoder)", label, rangeString(pp.DefRange))
	}
	b.ui.Say(fmt.Sprintf("Running post-processor: %s", label))
	p, diags := pp.Configure(env.Generated)
	if diags.HasErrors() {
		return nil, false, fmt.Errorf("configuring post-processor %s: %w", label, diags)
	}
	out, keep, force, err := safePostProcess(ctx, p, env, in)
	if err != nil {
		return nil, false, fmt.Errorf("post-processor %s%s failed: %w", label, rangeString(pp.DefRange), err)
	}
	// keep_input_artifact overrides the post-processor's default, except
	// when the post-processor insists on keeping its input.
	if pp.KeepInputArtifact != nil && !(force && keep) {
		keep = *pp.KeepInputArtifact
	}
	return out, keep, nil
}

func safePostProcess(ctx context.Context, p plugin.PostProcessor, env *plugin.PostProcessEnv, in plugin.Artifact) (out plugin.Artifact, keep, force bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the post-processor crashed (a bug in imgbuild, please report it): %v", v)
		}
	}()
	return p.PostProcess(ctx, env, in)
}

func (b *buildRun) postProcessEnv(art plugin.Artifact) *plugin.PostProcessEnv {
	b.mu.Lock()
	gen := b.generated
	b.mu.Unlock()
	if gen == nil {
		gen = plugin.GeneratedData{}
		switch v := art.State("generated_data").(type) {
		case plugin.GeneratedData:
			gen = v
		case map[string]string:
			gen = v
		}
		gen["PackerRunUUID"] = b.opts.RunUUID
	}
	return &plugin.PostProcessEnv{
		UI:            b.ui,
		BuildName:     b.plan.BuildName,
		FullName:      b.plan.Name,
		SourceType:    b.plan.SourceType,
		SourceName:    b.plan.SourceName,
		RunUUID:       b.opts.RunUUID,
		Generated:     gen,
		BuildTimeUnix: time.Now().Unix(),
	}
}

// destroy deletes an artifact on a fresh bounded context, so that an
// interrupted run still removes what nobody kept.
func destroy(ctx context.Context, a plugin.Artifact) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), destroyTimeout)
	defer cancel()
	if err := a.Destroy(ctx); err != nil {
		return fmt.Errorf("deleting artifact %s: %w", a.ID(), err)
	}
	return nil
}
