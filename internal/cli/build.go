package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/cache/remote"
	"github.com/imgbuild/imgbuild/internal/engine"
	"github.com/imgbuild/imgbuild/internal/template"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func init() { register(newBuildCmd) }

// buildOptions are build's own flags (-only, -except, -var and -var-file
// come from templateFlags).
type buildOptions struct {
	force           bool
	onError         string
	parallel        int
	timestampUI     bool
	machineReadable bool
	color           bool
	debug           bool
	cache           bool
	cacheVMStates   int
	cacheURL        string // -cache-url (IMGBUILD_CACHE_URL): the shared cache
	cacheMode       string // -cache-mode: read or readwrite
	cacheWait       time.Duration
	// cacheStore and templatePath are set by runBuild under -cache.
	cacheStore   *cache.Store
	templatePath string

	// cacheShareStates (-cache-share-vm-states): VM states go through
	// the shared cache too.
	cacheShareStates bool
}

func newBuildCmd(s *Streams) *cobra.Command {
	var o buildOptions
	tf := &templateFlags{}
	cmd := &cobra.Command{
		Use:   "build [options] TEMPLATE",
		Short: "Build images from a template",
		Long: "build runs every build of the template (a *.pkr.hcl or *.pkr.json file, or a\n" +
			"directory of them): each source's builder, its provisioners, then its\n" +
			"post-processors. Builds run in parallel. The first Ctrl-C cancels every build\n" +
			"and cleans up; a second one stops waiting and lists what may be left.\n\n" +
			"Exit status: 0 when every build succeeded, 1 otherwise.",
		Example: "  imgbuild build hello.pkr.hcl\n" +
			"  imgbuild build -only='docker.*' -var 'tag=v2' .\n" +
			"  imgbuild build -on-error=abort -parallel-builds=1 build.pkr.hcl",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd.Context(), s, tf, o, args[0])
		},
	}
	tf.add(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.force, "force", false, "replace existing artifacts (images, output directories) of the same name")
	f.StringVar(&o.onError, "on-error", "cleanup", "when a build fails: cleanup (remove everything), abort (keep everything for inspection), ask, or run-cleanup-provisioner (run the error-cleanup-provisioner, then keep everything)")
	f.IntVar(&o.parallel, "parallel-builds", 0, "the most builds to run at once (0: no limit)")
	f.BoolVar(&o.timestampUI, "timestamp-ui", false, "print an RFC 3339 timestamp before every line")
	f.BoolVar(&o.machineReadable, "machine-readable", false, "print timestamp,target,type,data rows for programs")
	f.BoolVar(&o.color, "color", true, "colour the output (only when it goes to a terminal)")
	f.BoolVar(&o.debug, "debug", false, "pause before each step of each build until Enter is pressed")
	f.IntVar(&o.cacheVMStates, "cache-vm-states", 2, "with -cache, how many of a qemu build's checkpoints before its last also keep the running VM (memory and devices), so that a rebuild of the last steps resumes the machine instead of booting it; 0 keeps none")
	f.BoolVar(&o.cacheShareStates, "cache-share-vm-states", false, "with -cache-url, share the VM states of -cache-vm-states too (hundreds of MB each, compressed), so that a runner rebuilding the last steps resumes the VM instead of booting it; a runner with another QEMU or accelerator boots; a state holds the guest's memory, secrets included (also IMGBUILD_CACHE_SHARE_VM_STATES=1; without it VM states stay local and none are downloaded)")
	f.BoolVar(&o.cache, "cache", false, "checkpoint the machine after each provisioner and start from the longest unchanged prefix (also IMGBUILD_CACHE=1; checkpoints live in IMGBUILD_CACHE_DIR; see imgbuild cache)")
	f.StringVar(&o.cacheURL, "cache-url", "", "share checkpoints through S3-compatible storage, s3://bucket/prefix (AWS credential chain, AWS_ENDPOINT_URL_S3 for other servers), or docker checkpoints as images in a registry, oci://host:port/repository (docker login's credentials), with the local cache in front (implies -cache; also IMGBUILD_CACHE_URL)")
	f.StringVar(&o.cacheMode, "cache-mode", "readwrite", "with -cache-url: readwrite (use and store checkpoints) or read (use only, e.g. for pull-request builds)")
	f.DurationVar(&o.cacheWait, "cache-wait", 30*time.Minute, "with -cache-url s3://: how long to wait for another runner that is building the same step (0: build it here at once; oci:// never waits)")
	return cmd
}

func runBuild(ctx context.Context, s *Streams, tf *templateFlags, o buildOptions, path string) error {
	if o.cacheVMStates < 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("-cache-vm-states %d: give how many checkpoints before a build's last keep the VM's state (0 for none)", o.cacheVMStates)}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	onErr, err := engine.ParseOnError(o.onError)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	if o.parallel < 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("-parallel-builds=%d: use 0 (no limit) or a positive number", o.parallel)}
	}
	closeLog, err := ui.SetupLog(os.Getenv, s.Err)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	defer closeLog()

	tf.debug, tf.force, tf.onError = o.debug, o.force, string(onErr)
	// After the builds' cleanups: plugin components clean up in their
	// own processes, which must still run.
	defer tf.closePlugins()
	tpl, err := tf.load(ctx, s, path, true)
	if err != nil {
		return err
	}
	plans, diags := tpl.Plans(tf.only, tf.except)
	writeDiagnostics(s.Err, tpl.Files(), diags)
	if diags.HasErrors() {
		return exitCode(1)
	}
	if len(plans) == 0 {
		return &ExitError{Code: 1, Err: errors.New("no build to run: the template has no build block, or -only/-except left none (names look like docker.hello)")}
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// Output piped into a reader that quits (| head) must not kill the
	// process before its cleanups run: with SIGPIPE handled, writes fail
	// with EPIPE instead and the builds carry on and clean up.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)
	if o.cacheMode != "read" && o.cacheMode != "readwrite" {
		return &ExitError{Code: 1, Err: fmt.Errorf("-cache-mode=%s: use read or readwrite", o.cacheMode)}
	}
	if o.cacheURL != "" {
		o.cache = true
	} else if o.cache || cacheFromEnv() {
		o.cacheURL = os.Getenv("IMGBUILD_CACHE_URL")
	}
	if o.cacheShareStates && o.cacheURL == "" {
		return &ExitError{Code: 1, Err: errors.New("-cache-share-vm-states shares VM states through a shared cache: give -cache-url s3://bucket/prefix (or IMGBUILD_CACHE_URL) too")}
	}
	if o.cacheURL != "" {
		if err := checkCacheURL(o.cacheURL); err != nil {
			return &ExitError{Code: 1, Err: fmt.Errorf("-cache-url: %w", err)}
		}
	}
	if o.cache || cacheFromEnv() {
		store, err := openCache()
		if err != nil {
			return &ExitError{Code: 1, Err: fmt.Errorf("-cache: %w", err)}
		}
		o.cacheStore, o.templatePath = store, path
		if abs, err := filepath.Abs(path); err == nil {
			o.templatePath = abs
		}
	}
	return executePlans(ctx, s, o, onErr, plans, sigs)
}

// shareStatesFromEnv reports whether IMGBUILD_CACHE_SHARE_VM_STATES asks
// for -cache-share-vm-states.
func shareStatesFromEnv() bool {
	v, err := strconv.ParseBool(os.Getenv("IMGBUILD_CACHE_SHARE_VM_STATES"))
	return err == nil && v
}

// cacheFromEnv reports whether IMGBUILD_CACHE asks for -cache.
func cacheFromEnv() bool {
	v, err := strconv.ParseBool(os.Getenv("IMGBUILD_CACHE"))
	return err == nil && v
}

// executePlans runs the builds and the closing summary. The first signal
// cancels every build (their cleanups still run); the second stops
// waiting and names the builds that may have left resources behind.
func executePlans(ctx context.Context, s *Streams, o buildOptions, onErr engine.OnError, plans []*template.BuildPlan, sigs <-chan os.Signal) error {
	terminal := isTerminal(s.Out)
	u := ui.New(ui.Options{
		Out:             s.Out,
		Color:           o.color && terminal,
		Timestamp:       o.timestampUI,
		MachineReadable: o.machineReadable,
		Terminal:        terminal,
		In:              s.In,
	})
	if o.cacheStore != nil {
		release, swept, err := o.cacheStore.Hold()
		if err != nil {
			return &ExitError{Code: 1, Err: fmt.Errorf("-cache: %w", err)}
		}
		defer release()
		if len(swept) > 0 {
			u.Say(fmt.Sprintf("Cache: removed %d file(s) that killed builds or removed checkpoints left in %s (disks, QMP sockets, records)", len(swept), o.cacheStore.DataDir()))
		}
	}
	var shared engine.SharedCache // a nil interface, not a nil *remote.Layer
	if o.cacheStore != nil && o.cacheURL != "" {
		if layer, salt := openShared(ctx, u, o.cacheURL, o.cacheMode == "readwrite"); layer != nil {
			shared = layer
			if o.cacheShareStates || shareStatesFromEnv() {
				o.cacheStore = o.cacheStore.WithSharedStates()
			}
			// The shared cache's salt keys the builds, so that every
			// runner computes the same keys (the local entries too).
			o.cacheStore = o.cacheStore.WithSalt(salt)
		}
	}
	runner := engine.NewRunner(engine.Options{
		UI:            u,
		Parallel:      o.parallel,
		OnError:       onErr,
		Debug:         o.debug,
		Force:         o.force,
		RunUUID:       uuid.NewString(),
		Cache:         o.cacheStore,
		Shared:        shared,
		CacheWait:     o.cacheWait,
		Template:      o.templatePath,
		CacheVMStates: o.cacheVMStates,
	})
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	done := make(chan []engine.Result, 1)
	go func() { done <- runner.Run(ctx, plans) }()

	interrupted := false
	var firstSignal time.Time
	for {
		select {
		case results := <-done:
			engine.PrintSummary(u, results, time.Since(start))
			for _, r := range results {
				if r.Err != nil {
					return exitCode(1)
				}
			}
			if interrupted {
				return exitCode(1)
			}
			return nil
		case sig := <-sigs:
			if !interrupted {
				interrupted = true
				firstSignal = time.Now()
				u.Error(fmt.Sprintf("Interrupt received (%s): cancelling every build and cleaning up. Interrupt again to stop waiting for the cleanups.", signalName(sig)))
				cancel(fmt.Errorf("interrupted (%s)", signalName(sig)))
				continue
			}
			// One Ctrl-C can arrive twice (to the process and to its
			// group, or forwarded by a wrapper such as timeout): only a
			// later one means "stop waiting".
			if time.Since(firstSignal) < duplicateSignalWindow {
				continue
			}
			left := runner.Unfinished()
			msg := "Second interrupt: no longer waiting for cleanups."
			if len(left) > 0 {
				msg += " These builds had not finished cleaning up and may have left resources behind (containers, instances, temporary files): " + strings.Join(left, ", ")
			}
			u.Error(msg)
			return exitCode(1)
		}
	}
}

// duplicateSignalWindow is how soon after the first interrupt another one
// is taken as the same interrupt delivered twice.
const duplicateSignalWindow = 500 * time.Millisecond

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// openShared connects to the shared cache and reads its salt. When that
// fails, it says so once and the builds go on with the local cache only:
// the shared cache must never fail a build.
func openShared(ctx context.Context, u remote.UI, url string, write bool) (engine.SharedCache, []byte) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	open := openS3
	if isOCI(url) {
		open = openOCI
	}
	shared, salt, err := open(ctx, url, write)
	if err != nil {
		u.Error(fmt.Sprintf("Warning: the shared cache %s is unreachable, the builds go on with the local cache only: %s", url, err))
		return nil, nil
	}
	if salt == nil { // read mode on a cache no runner wrote yet
		u.Message(fmt.Sprintf("The shared cache %s is empty; -cache-mode read writes nothing to it", url))
		return nil, nil
	}
	return shared, salt
}

// openS3 opens the cache at s3://bucket/prefix and reads its salt (makes
// it in readwrite mode; nil in read mode when no runner made one).
func openS3(ctx context.Context, url string, write bool) (engine.SharedCache, []byte, error) {
	store, err := remote.Open(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	var salt []byte
	if write {
		salt, err = store.Salt(ctx)
	} else {
		salt, err = store.ExistingSalt(ctx)
	}
	return remote.NewLayer(store, write, Version), salt, err
}
