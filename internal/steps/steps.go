// Package steps runs a builder's steps with a cleanup stack, in the manner
// of Packer's multistep, with three changes: state is a typed struct of
// the builder's own (no string-keyed bag), a step returns an error instead
// of "halt", and cleanups get a fresh, bounded context so that they still
// run, and still end, after the build was cancelled.
package steps

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Step is one unit of a build. Run does the work and may return a cleanup
// that undoes it; the cleanup is registered even when Run fails, so a step
// that created half of something can remove that half.
type Step[S any] struct {
	Name string
	Run  func(ctx context.Context, state *S) (Cleanup, error)
}

// Cleanup undoes a step. Its context is not the build's: it is fresh and
// bounded by Options.CleanupTimeout.
type Cleanup func(ctx context.Context) error

// Options steers a run.
type Options struct {
	// BeforeStep, when set, is called before each step (-debug pauses here).
	BeforeStep func(ctx context.Context, step string) error
	// Retry, when set, is asked first when a step fails (not when the build
	// was cancelled); true runs the step again (-on-error=ask's "retry"),
	// after undoing what the failed attempt registered.
	Retry func(step string, err error) bool
	// KeepOnFailure, when set and returning true for the failure, skips
	// every cleanup (-on-error=abort) and Run's error lists what was left.
	KeepOnFailure func(err error) bool
	// CleanupTimeout bounds all cleanups together. Default 5 minutes.
	CleanupTimeout time.Duration
	// OnCleanupError is told about each cleanup that failed (the UI shows
	// it); Run also returns those errors joined.
	OnCleanupError func(step string, err error)
}

// ErrKept wraps the failure when cleanups were skipped on purpose.
var ErrKept = errors.New("resources were kept for inspection")

type registered struct {
	step    string
	cleanup Cleanup
}

// Run runs steps in order until one fails or ctx is cancelled, then runs
// the cleanups of every step that ran, in reverse order.
func Run[S any](ctx context.Context, state *S, opts Options, steps ...Step[S]) (err error) {
	var stack []registered
	defer func() {
		if err != nil && opts.KeepOnFailure != nil && opts.KeepOnFailure(err) {
			names := make([]string, 0, len(stack))
			for _, r := range stack {
				names = append(names, r.step)
			}
			err = fmt.Errorf("%w (%w: cleanup skipped for steps %v)", err, ErrKept, names)
			return
		}
		if cerr := unwind(ctx, stack, opts); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	for _, s := range steps {
		for {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("cancelled before %s: %w", s.Name, context.Cause(ctx))
			}
			if opts.BeforeStep != nil {
				if err := opts.BeforeStep(ctx, s.Name); err != nil {
					return err
				}
			}
			cleanup, err := s.Run(ctx, state)
			if err != nil && ctx.Err() == nil && opts.Retry != nil && opts.Retry(s.Name, err) {
				if cleanup != nil {
					if cerr := unwind(ctx, []registered{{step: s.Name, cleanup: cleanup}}, opts); cerr != nil {
						return errors.Join(fmt.Errorf("%s: %w", s.Name, err), cerr)
					}
				}
				continue
			}
			if cleanup != nil {
				stack = append(stack, registered{step: s.Name, cleanup: cleanup})
			}
			if err != nil {
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			break
		}
	}
	return nil
}

// unwind runs the cleanups in reverse order in a context that is detached
// from the build's cancellation but bounded in time.
func unwind(parent context.Context, stack []registered, opts Options) error {
	timeout := opts.CleanupTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
	defer cancel()
	var errs []error
	for i := len(stack) - 1; i >= 0; i-- {
		r := stack[i]
		if err := r.cleanup(ctx); err != nil {
			err = fmt.Errorf("cleanup of %s: %w", r.step, err)
			if opts.OnCleanupError != nil {
				opts.OnCleanupError(r.step, err)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
