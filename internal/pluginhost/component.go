package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/pluginhost/installed"
)

// errSpecOnly answers the struct-based configuration calls that the
// template engine never makes on a plugin component.
var errSpecOnly = errors.New("a plugin component is configured through its ConfigSpec (internal error: Prepare called)")

// component is what every plugin component adapter shares: the component
// it stands for, and its process, started on first use.
type component struct {
	host *Host
	comp installed.Component
	typ  string // the type name the template uses

	mu   sync.Mutex
	proc *process
}

func (c *component) label() string { return label(c.comp, c.typ) }

// process returns the component's process, starting it on first use.
func (c *component) process(ctx context.Context) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		if c.proc.died() {
			return nil, c.proc.explain(fmt.Errorf("%s has exited (%s)", c.label(), exitStatus(c.proc.exitErr)))
		}
		return c.proc, nil
	}
	p, err := c.host.start(ctx, c.comp, c.typ)
	if err != nil {
		return nil, err
	}
	c.proc = p
	return p, nil
}

// Release stops the component's process: it will not be used again.
func (c *component) Release() {
	c.mu.Lock()
	p := c.proc
	c.proc = nil
	c.mu.Unlock()
	if p != nil {
		c.host.forget(p)
	}
}

// call makes a configuration call into the plugin. It is bounded by the
// host's call timeout (a plugin that stopped answering is killed), and a
// panic of the SDK's client (it panics when ConfigSpec's RPC fails) is
// turned into an error.
func (c *component) call(what string, f func(p *process) error) error {
	p, err := c.process(context.Background())
	if err != nil {
		return err
	}
	done := goCall(f, p)
	timer := time.NewTimer(c.host.opts.CallTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", what, p.callError(err))
		}
		return nil
	case <-timer.C:
		p.kill()
		return fmt.Errorf("%s: %s did not answer within %s and was stopped", what, c.label(), c.host.opts.CallTimeout)
	}
}

// goCall runs f(p) in its own goroutine and delivers its result; a panic
// of the SDK's client (it panics when some RPCs fail) becomes an error.
func goCall(f func(p *process) error, p *process) <-chan error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%v", r)
			}
		}()
		done <- f(p)
	}()
	return done
}

// configure makes a configuration call (Prepare, Configure). The plugin's
// own error (the configuration is wrong) is the result, one error per
// item it lists; failing to talk to the plugin is an error about that.
func (c *component) configure(what string, f func(p *process) error) error {
	var remote error
	err := c.call(what, func(p *process) error {
		err := f(p)
		if err != nil && !isRemote(err) {
			return err
		}
		remote = err
		return nil
	})
	if err != nil {
		return err
	}
	return splitErrors(remoteMessage(remote))
}

// runLong makes a call that may take long (Run, Provision, PostProcess,
// Execute). When ctx ends, the SDK's client asks the plugin to cancel;
// the plugin then gets the host's grace period to run its own cleanup
// before it is killed.
func (c *component) runLong(ctx context.Context, f func(p *process) error) error {
	p, err := c.process(ctx)
	if err != nil {
		return err
	}
	done := goCall(f, p)
	select {
	case err := <-done:
		return p.callError(err)
	case <-ctx.Done():
	}
	timer := time.NewTimer(c.host.opts.CancelGrace)
	defer timer.Stop()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		return fmt.Errorf("%w (%w)", p.callError(err), context.Cause(ctx))
	case <-timer.C:
		p.kill()
		return fmt.Errorf("%s was cancelled (%w) and did not finish its cleanup within %s; it was killed", c.label(), context.Cause(ctx), c.host.opts.CancelGrace)
	}
}

// specKey names one component of one binary: its ConfigSpec is the same
// for every block of that type.
type specKey struct {
	path, kind, name, which string
}

type specEntry struct {
	once sync.Once
	spec hcldec.ObjectSpec
	err  error
}

// cachedSpec returns the spec named which ("config", "output") of the
// component, asking the plugin (with ask) only for the first block of
// its type. A plugin that failed to answer fails every block of its type
// with the same error, without being started again.
func (c *component) cachedSpec(which string, ask func(p *process) hcldec.ObjectSpec) (hcldec.ObjectSpec, error) {
	key := specKey{c.comp.Plugin.Path, string(c.comp.Kind), c.comp.Name, which}
	c.host.mu.Lock()
	e := c.host.specs[key]
	if e == nil {
		e = &specEntry{}
		c.host.specs[key] = e
	}
	c.host.mu.Unlock()
	e.once.Do(func() {
		e.err = c.call("reading the options of "+c.label(), func(p *process) error {
			e.spec = ask(p)
			return nil
		})
	})
	return e.spec, e.err
}

// coreVars are the values Packer's core passes to Prepare before the
// block's own configuration, with Packer's names and string values.
func coreVars(core plugin.CoreValues) map[string]any {
	onError := core.OnError
	if onError == "" {
		onError = "cleanup"
	}
	vars := map[string]any{
		"packer_build_name":   core.BuildName,
		"packer_builder_type": core.BuilderType,
		"packer_core_version": core.CoreVersion,
		"packer_debug":        strconv.FormatBool(core.Debug),
		"packer_force":        strconv.FormatBool(core.Force),
		"packer_on_error":     onError,
	}
	if core.UserVariables != nil {
		vars["packer_user_variables"] = core.UserVariables
	}
	if core.SensitiveVariables != nil {
		vars["packer_sensitive_variables"] = core.SensitiveVariables
	}
	return vars
}

// splitErrors turns the SDK's multi-error text ("2 error(s) occurred:\n\n*
// a\n* b") into one error per item, joined, so that each is reported on
// its own (and located on its own when it names an option).
func splitErrors(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	head, body, ok := strings.Cut(msg, " error(s) occurred:\n")
	if _, nerr := strconv.Atoi(head); !ok || nerr != nil {
		return errors.New(msg)
	}
	var errs []error
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			errs = append(errs, errors.New(strings.TrimSpace(strings.Join(cur, "\n"))))
			cur = nil
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if item, ok := strings.CutPrefix(line, "* "); ok {
			flush()
			cur = append(cur, item)
		} else if len(cur) > 0 {
			cur = append(cur, line)
		}
	}
	flush()
	if len(errs) == 0 {
		return errors.New(msg)
	}
	return errors.Join(errs...)
}
