// Package pluginhost runs installed Packer plugins for imgbuild, as
// Packer's core does: each component (a builder, provisioner,
// post-processor or data source of a template) is a process of its
// plugin binary, started on first use and spoken to over Packer's plugin
// protocol (API x5.0, packer-plugin-sdk's rpc package). Its adapters make
// those components implement internal/plugin's interfaces, and serve
// imgbuild's UI, provisioners, communicators and artifacts back to them,
// so that plugin and native components mix freely.
//
// A Host belongs to one run of a command; Close stops every process it
// started. Plugin processes die with imgbuild, even after kill -9.
package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/pluginhost/installed"
	"github.com/imgbuild/imgbuild/internal/ui"
)

// Options tune a Host. Zero values take the defaults.
type Options struct {
	// Env is the environment plugins run in (os.Environ() in the CLI):
	// they read credentials, PATH and their own settings from it.
	Env []string
	// RunUUID is passed as PACKER_RUN_UUID, from which Packer's plugins
	// fill build.PackerRunUUID.
	RunUUID string
	// StartTimeout bounds the wait for a plugin's handshake (1 minute,
	// as Packer's).
	StartTimeout time.Duration
	// CallTimeout bounds configuration calls (ConfigSpec, Prepare,
	// artifact questions) of a plugin that stopped answering (2 minutes).
	CallTimeout time.Duration
	// CancelGrace is how long a cancelled component may take to run its
	// own cleanup before it is killed (1 minute).
	CancelGrace time.Duration
	// StopTimeout is how long a plugin gets to exit once its connection is
	// closed before it is killed (5 seconds).
	StopTimeout time.Duration
	// Log receives what plugins print (their stderr); ui.Logger() when nil.
	Log *slog.Logger
}

// Host starts and stops the plugin processes of one run.
type Host struct {
	opts    Options
	plugins []*installed.Plugin

	mu     sync.Mutex
	closed bool
	procs  map[*process]struct{}
	specs  map[specKey]*specEntry
}

// ErrClosed is returned when a component is used after its Host closed.
var ErrClosed = errors.New("the plugin host is closed (the command has ended)")

// New returns a host for the installed plugins (from installed.Discover).
// It starts nothing until a component is used.
func New(plugins []*installed.Plugin, opts Options) *Host {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = time.Minute
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 2 * time.Minute
	}
	if opts.CancelGrace <= 0 {
		opts.CancelGrace = time.Minute
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = ui.Logger()
	}
	quietSDKLog(opts.Log)
	opts.Env = append([]string(nil), opts.Env...)
	if opts.RunUUID != "" {
		opts.Env = append(opts.Env, "PACKER_RUN_UUID="+opts.RunUUID)
	}
	return &Host{opts: opts, plugins: plugins, procs: map[*process]struct{}{}, specs: map[specKey]*specEntry{}}
}

// Plugins returns the installed plugins the host was given.
func (h *Host) Plugins() []*installed.Plugin { return h.plugins }

// Catalog is base (the built-in plugins) with the components of the
// installed plugins as reqs (the template's required_plugins) name them.
// A type that base has stays base's; every other type comes from the
// plugin that serves it. Unmet requirements are errors at their range.
func (h *Host) Catalog(base plugin.Catalog, reqs []installed.Requirement) (plugin.Catalog, hcl.Diagnostics) {
	comps, diags := installed.Components(h.plugins, reqs)
	return &catalog{base: base, host: h, comps: comps}, diags
}

// CatalogOf is Catalog with components already named (tests, and callers
// that resolved them otherwise).
func (h *Host) CatalogOf(base plugin.Catalog, comps map[installed.Kind]map[string]installed.Component) plugin.Catalog {
	return &catalog{base: base, host: h, comps: comps}
}

// Close stops every plugin process the host started, in parallel, each
// within the stop timeout, and removes their temporary folders. Call it
// when the command ends, after the builds' cleanups ran. Components
// cannot be used afterwards.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	procs := make([]*process, 0, len(h.procs))
	for p := range h.procs {
		procs = append(procs, p)
	}
	h.procs = map[*process]struct{}{}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(h.opts.StopTimeout)
		}()
	}
	wg.Wait()
	return nil
}

// start starts the process of one component instance.
func (h *Host) start(ctx context.Context, c installed.Component, typ string) (*process, error) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	p, err := start(ctx, launch{
		path:         c.Plugin.Path,
		kind:         string(c.Kind),
		name:         c.Name,
		label:        label(c, typ),
		env:          h.opts.Env,
		startTimeout: h.opts.StartTimeout,
		log:          h.opts.Log,
	})
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed { // closed while it started
		go p.stop(h.opts.StopTimeout)
		return nil, ErrClosed
	}
	h.procs[p] = struct{}{}
	return p, nil
}

// forget stops a process before the host closes (a component that will
// not be used again).
func (h *Host) forget(p *process) {
	h.mu.Lock()
	_, ok := h.procs[p]
	delete(h.procs, p)
	h.mu.Unlock()
	if ok {
		p.stop(h.opts.StopTimeout)
	}
}

// label is how messages name a component: `the "azure-arm" builder
// (packer-plugin-azure 1.4.5)`.
func label(c installed.Component, typ string) string {
	bin := filepath.Base(c.Plugin.Path)
	if c.Plugin.Name != "" {
		bin = "packer-plugin-" + c.Plugin.Name
	}
	if c.Plugin.Version != "" {
		bin += " " + c.Plugin.Version
	}
	return fmt.Sprintf("the %q %s (%s)", typ, kindNoun(c.Kind), bin)
}

func kindNoun(k installed.Kind) string {
	if k == installed.Datasource {
		return "data source"
	}
	return string(k)
}

// quietSDKLog sends what packer-plugin-sdk's client side prints through
// Go's standard logger ("[DEBUG] receiving ConfigSpec as gob", "Client is
// closing mux") to imgbuild's debug log instead of the user's terminal.
func quietSDKLog(l *slog.Logger) {
	sdkLogOnce.Do(func() {
		log.SetFlags(0)
		log.SetOutput(logWriter{l})
	})
}

var sdkLogOnce sync.Once

type logWriter struct{ l *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimRight(string(p), "\n"), "from", "packer-plugin-sdk")
	return len(p), nil
}
