package pluginhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	sdkrpc "github.com/hashicorp/packer-plugin-sdk/rpc"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/tempdir"
)

// Packer's protocol: the magic cookie tells the binary that a Packer core
// started it, and the port range is where it may listen when it cannot
// use a Unix socket.
const (
	magicCookieKey   = "PACKER_PLUGIN_MAGIC_COOKIE"
	magicCookieValue = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
	minPort, maxPort = 10000, 25000
)

// launch says how to start one component process.
type launch struct {
	path  string // the plugin binary
	kind  string // "builder", "provisioner", "post-processor", "datasource"
	name  string // the component's name in the binary ("-packer-default-plugin-name-", "arm")
	label string // how messages name it: `the "azure-arm" builder (packer-plugin-azure)`
	env   []string
	// startTimeout bounds the wait for the handshake.
	startTimeout time.Duration
	log          *slog.Logger
}

// process is one running component process and the RPC client connected
// to it.
type process struct {
	label  string
	cmd    *exec.Cmd
	tmpDir string
	// removeTmp removes tmpDir (imgbuild cleanup does after a kill -9).
	removeTmp func() error
	client    *sdkrpc.Client
	tail      *tail
	log       *slog.Logger

	exited  chan struct{} // closed once the process ended
	exitErr error         // set before exited is closed

	stopOnce sync.Once
}

// start starts the component process, waits for its handshake and
// connects to it. On failure nothing is left running.
func start(ctx context.Context, l launch) (*process, error) {
	tmpDir, removeTmp, err := tempdir.Dir("imgbuild-plugin-")
	if err != nil {
		return nil, fmt.Errorf("starting %s: creating its temporary folder: %w", l.label, err)
	}
	p := &process{label: l.label, tmpDir: tmpDir, removeTmp: removeTmp, tail: newTail(8), log: l.log, exited: make(chan struct{})}
	if err := p.run(ctx, l); err != nil {
		p.stop(5 * time.Second)
		return nil, fmt.Errorf("starting %s: %w", l.label, err)
	}
	return p, nil
}

func (p *process) run(ctx context.Context, l launch) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	cmd := exec.Command(l.path, "start", l.kind, l.name)
	cmd.Env = pluginEnv(l.env, p.tmpDir)
	cmd.Stdout, cmd.Stderr = outW, errW // stdin: /dev/null
	err = startTied(cmd)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return err
	}
	p.cmd = cmd
	p.log = p.log.With("plugin", filepath.Base(l.path), "component", l.kind+" "+l.name, "pid", cmd.Process.Pid)
	p.log.Debug("plugin process started", "path", l.path)
	go p.logLines(errR, "stderr")
	go func() {
		err := cmd.Wait()
		p.exitErr = err
		close(p.exited)
		p.log.Debug("plugin process ended", "status", exitStatus(err))
	}()

	stdout := bufio.NewReaderSize(outR, maxHandshakeLine)
	type result struct {
		line string
		err  error
	}
	lines := make(chan result, 1)
	go func() {
		line, err := readHandshake(stdout)
		lines <- result{line, err}
		if err == nil { // whatever it prints later goes to the log
			p.logLines(struct{ io.Reader }{stdout}, "stdout")
		}
		outR.Close()
	}()
	timer := time.NewTimer(l.startTimeout)
	defer timer.Stop()
	var line string
	select {
	case r := <-lines:
		if r.err != nil {
			return p.explain(r.err)
		}
		line = r.line
	case <-p.exited:
		return p.explain(errors.New("it exited before its handshake"))
	case <-timer.C:
		return p.explain(fmt.Errorf("it printed no handshake within %s", l.startTimeout))
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	network, address, err := parseHandshake(line)
	if err != nil {
		return err
	}
	conn, err := net.DialTimeout(network, address, 10*time.Second)
	if err != nil {
		return fmt.Errorf("connecting to it at %s: %w", address, err)
	}
	client, err := sdkrpc.NewClient(conn)
	if err != nil {
		conn.Close()
		return fmt.Errorf("opening the plugin protocol's session: %w", err)
	}
	p.client = client
	return nil
}

// pluginEnv is imgbuild's environment (plugins read credentials, PATH and
// their own settings from it, as under Packer) with a private temporary
// folder and the protocol's variables.
func pluginEnv(base []string, tmpDir string) []string {
	env := make([]string, 0, len(base)+5)
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "TMPDIR", "PACKER_TMP_DIR", magicCookieKey, "PACKER_PLUGIN_MIN_PORT", "PACKER_PLUGIN_MAX_PORT":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"TMPDIR="+tmpDir,
		"PACKER_TMP_DIR="+tmpDir,
		magicCookieKey+"="+magicCookieValue,
		fmt.Sprintf("PACKER_PLUGIN_MIN_PORT=%d", minPort),
		fmt.Sprintf("PACKER_PLUGIN_MAX_PORT=%d", maxPort),
	)
}

// logLines copies what the plugin prints to imgbuild's log, a line at a
// time, and keeps the last lines for error messages. Secrets are masked
// by the log and by tail.
func (p *process) logLines(r io.Reader, stream string) {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			text := strings.TrimRight(string(line), "\r\n")
			p.tail.add(text)
			p.log.Debug(text, "stream", stream)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if c, ok := r.(io.Closer); ok {
				c.Close()
			}
			return
		}
	}
}

// stop ends the process: closing the connection makes a plugin return
// from serving and exit; one that does not within wait is killed, with
// everything it started. Its temporary folder is removed.
func (p *process) stop(wait time.Duration) {
	p.stopOnce.Do(func() {
		if p.client != nil {
			_ = p.client.Close()
		}
		if p.cmd != nil && p.cmd.Process != nil {
			timer := time.NewTimer(wait)
			select {
			case <-p.exited:
			case <-timer.C:
				p.log.Debug("plugin process did not exit; killing it", "waited", wait)
				killGroup(p.cmd.Process.Pid)
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
			timer.Stop()
			// What the plugin started in its group (a docker CLI call, an
			// ansible-playbook) must not outlive it.
			killGroup(p.cmd.Process.Pid)
		}
		if err := p.removeTmp(); err != nil {
			p.log.Warn("removing a plugin's temporary folder", "dir", p.tmpDir, "err", err)
		}
	})
}

// kill ends the process at once (a cancelled component that did not
// finish its cleanup in time).
func (p *process) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		killGroup(p.cmd.Process.Pid)
		_ = p.cmd.Process.Kill()
	}
}

// died reports whether the process has ended.
func (p *process) died() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// callError turns the error of an RPC call into one that says what went
// wrong: the plugin's own message when it answered with an error, or that
// it died (with its last output) when the connection broke.
func (p *process) callError(err error) error {
	if err == nil {
		return nil
	}
	var se rpc.ServerError
	if errors.As(err, &se) {
		return errors.New(string(se))
	}
	var be *sdkrpc.BasicError
	if errors.As(err, &be) {
		return errors.New(be.Message)
	}
	// A broken connection is reported before the process is reaped.
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
	}
	if p.died() {
		return p.explain(fmt.Errorf("it exited unexpectedly (%s)", exitStatus(p.exitErr)))
	}
	return fmt.Errorf("talking to %s: %w", p.label, err)
}

// explain adds the plugin's last lines of output to err.
func (p *process) explain(err error) error {
	if last := p.tail.String(); last != "" {
		return fmt.Errorf("%w; its last output:\n%s", err, last)
	}
	return err
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// tail keeps the last lines a plugin printed, and the first line of a Go
// panic (its stack trace is for the log, not for the user).
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	crash string
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) add(line string) {
	if len(line) > 500 {
		line = line[:500] + "..."
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.crash == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
		t.crash = line
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.crash != "" {
		return secret.Mask("  " + t.crash + " (the plugin crashed; IMGBUILD_LOG=1 shows its stack trace)")
	}
	if len(t.lines) == 0 {
		return ""
	}
	return secret.Mask("  " + strings.Join(t.lines, "\n  "))
}
