// Package shell is Packer's "shell" provisioner: it uploads scripts (or
// inline commands) to the machine and runs them with execute_command.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/shellenv"
	"github.com/imgbuild/imgbuild/internal/ui"
	"github.com/imgbuild/imgbuild/internal/wait"
)

func init() {
	plugin.RegisterProvisioner("shell", func() plugin.Provisioner { return &Provisioner{} })
}

// retryPause is the wait between attempts to start a script.
var retryPause = 2 * time.Second

// Provisioner runs shell scripts on the machine.
type Provisioner struct {
	cfg        Config
	tmpl       *template.Template
	env        map[string]string
	remotePath string // where each script is uploaded (cfg.remotePath)
}

// Config returns the options to decode into.
func (p *Provisioner) Config() any { return &p.cfg }

// Prepare fills defaults and checks the options.
func (p *Provisioner) Prepare() ([]string, error) {
	tmpl, env, err := p.cfg.prepare()
	p.tmpl, p.env, p.remotePath = tmpl, env, p.cfg.remotePath()
	return nil, err
}

// script is one thing to run: a local file or the inline commands.
type script struct {
	label string
	open  func() (io.ReadCloser, error)
}

// Provision uploads and runs each script in turn.
func (p *Provisioner) Provision(ctx context.Context, env *plugin.ProvisionEnv) (err error) {
	if env.Comm == nil {
		return errNoComm
	}
	vars := shellenv.PackerEnv(env.SourceName, env.SourceType, env.Generated)
	maps.Copy(vars, p.env)
	flat := shellenv.FlattenEnv(p.cfg.EnvVarFormat, vars)
	useFile, cmd := p.cfg.UseEnvVarFile, p.tmpl
	if secret.Mask(flat) != flat {
		// A secret in the command line would show in ps, docker events and
		// the SSH server's logs: it goes in a 0600 file the script sources,
		// as with use_env_var_file.
		switch {
		case p.cfg.secretCommand != nil:
			useFile, cmd = true, p.cfg.secretCommand
			flat = shellenv.FlattenEnv(envVarFileFormat, vars)
		case p.cfg.varsInCommandLine:
			env.UI.Error("Warning: environment_vars hold a sensitive value, and execute_command puts {{.Vars}} where it cannot be replaced by a sourced file (after env or sudo, in quotes, after | or ||, or with a custom env_var_format): the value is on the machine's command line, where ps and docker events show it. Set use_env_var_file = true and source {{.EnvVarFile}}, or start a command with {{.Vars}}.")
		}
	}

	envVarFile := ""
	if useFile {
		envVarFile = path.Join(p.cfg.RemoteFolder, fmt.Sprintf("varfile_%d.sh", rand.IntN(9999)))
		if err := env.Comm.Upload(ctx, envVarFile, strings.NewReader(flat), 0o600); err != nil {
			return fmt.Errorf("uploading the environment variable file to %s: %w", envVarFile, err)
		}
		if !p.cfg.SkipClean {
			defer func() {
				rctx, cancel := cleanupContext(ctx, err)
				defer cancel()
				p.remove(rctx, env, envVarFile)
			}()
		}
	}
	for _, s := range p.scripts() {
		env.UI.Say("Provisioning with shell script: " + s.label)
		if err := p.runScript(ctx, env, s, cmd, flat, envVarFile); err != nil {
			return err
		}
	}
	if p.cfg.PauseAfter > 0 {
		env.UI.Say(fmt.Sprintf("Pausing %s after the scripts...", p.cfg.PauseAfter))
		if err := wait.Sleep(ctx, p.cfg.PauseAfter); err != nil {
			return err
		}
	}
	return nil
}

func (p *Provisioner) scripts() []script {
	if len(p.cfg.Inline) > 0 {
		body := "#!" + p.cfg.InlineShebang + "\n" + strings.Join(p.cfg.Inline, "\n") + "\n"
		return []script{{
			label: fmt.Sprintf("inline script (%d lines)", len(p.cfg.Inline)),
			open:  func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
		}}
	}
	out := make([]script, 0, len(p.cfg.Scripts))
	for _, name := range p.cfg.Scripts {
		out = append(out, script{label: name, open: func() (io.ReadCloser, error) {
			f, err := os.Open(name)
			if err != nil {
				return nil, fmt.Errorf("opening script %s: %w", name, err)
			}
			if p.cfg.Binary {
				return f, nil
			}
			return readCloser{newCRLFReader(f), f}, nil
		}})
	}
	return out
}

type readCloser struct {
	io.Reader
	io.Closer
}

// runScript uploads and runs one script and removes it from the machine
// (unless skip_clean), also when it failed or the build was cancelled: on
// a machine that outlives the build (the null builder's) nothing is left.
func (p *Provisioner) runScript(ctx context.Context, env *plugin.ProvisionEnv, s script, cmd *template.Template, vars, envVarFile string) error {
	err := p.uploadAndRunRetrying(ctx, env, s, cmd, vars, envVarFile)
	if p.cfg.SkipClean {
		return err
	}
	rctx, cancel := cleanupContext(ctx, err)
	defer cancel()
	rerr := p.remove(rctx, env, p.remotePath)
	if err == nil && errors.Is(rerr, communicator.ErrDisconnected) && !p.cfg.ExpectDisconnect {
		// The script ended and the machine went away for good right after:
		// a reboot or shutdown as the script's last command, most likely.
		return fmt.Errorf("the machine went away right after the script (set expect_disconnect = true if the script reboots it): %w", rerr)
	}
	if err == nil {
		err = rerr
	}
	return err
}

// cleanupContext bounds the removal of an uploaded file after the script
// ended with err. Removing it is worth a moment, not a long wait: when the
// build was cancelled it gets a short context of its own, and when the
// script failed (the connection may have dropped: a machine that rebooted
// unexpectedly, or froze) it gets failedCleanupGrace to reconnect rather
// than ssh_timeout and start_retry_timeout, as the build fails anyway.
func cleanupContext(ctx context.Context, err error) (context.Context, context.CancelFunc) {
	switch {
	case ctx.Err() != nil:
		return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	case err != nil:
		return context.WithTimeout(ctx, failedCleanupGrace)
	}
	return ctx, func() {}
}

// failedCleanupGrace is how long the clean-up after a failed script may
// wait for the machine: long enough for a reboot to finish.
var failedCleanupGrace = 30 * time.Second

// uploadAndRunRetrying uploads and runs one script, retrying a start that
// fails for up to start_retry_timeout (the machine may still be coming up).
func (p *Provisioner) uploadAndRunRetrying(ctx context.Context, env *plugin.ProvisionEnv, s script, cmd *template.Template, vars, envVarFile string) error {
	var cmdline strings.Builder
	data := map[string]string{"Vars": vars, "Path": p.remotePath, "EnvVarFile": envVarFile}
	if err := cmd.Execute(&cmdline, data); err != nil {
		return fmt.Errorf("expanding execute_command: %w", err)
	}
	ui.Logger().Debug("shell provisioner command", "build", env.BuildName, "command", cmdline.String())

	deadline := time.Now().Add(p.cfg.StartRetryTimeout)
	for {
		status, err := p.uploadAndRun(ctx, env, s, cmdline.String())
		err = withoutCommand(err, cmdline.String())
		switch {
		case err == nil:
			if !slices.Contains(p.cfg.ValidExitCodes, status) {
				return fmt.Errorf("script exited with non-zero exit status: %d; allowed exit codes are: %v%s", status, p.cfg.ValidExitCodes, statusHint(status))
			}
		case errors.Is(err, communicator.ErrDisconnected):
			if !p.cfg.ExpectDisconnect {
				return fmt.Errorf("the connection to the machine dropped while the script ran (set expect_disconnect = true if the script reboots it): %w", err)
			}
			env.UI.Say("Remote end disconnected while the script ran (expect_disconnect is set).")
			if err := reconnect(ctx, env.Comm, deadline); err != nil {
				return err
			}
		case ctx.Err() != nil:
			// The communicator's error repeats the whole command line; the
			// cause is what matters.
			return fmt.Errorf("the script was stopped: %w", context.Cause(ctx))
		case time.Now().Before(deadline):
			env.UI.Error(fmt.Sprintf("Starting the script failed, retrying: %s", err))
			if err := wait.Sleep(ctx, retryPause); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("starting the script (retried for start_retry_timeout %s): %w", p.cfg.StartRetryTimeout, err)
		}
		break
	}
	return nil
}

func (p *Provisioner) uploadAndRun(ctx context.Context, env *plugin.ProvisionEnv, s script, cmdline string) (int, error) {
	r, err := s.open()
	if err != nil {
		return -1, err
	}
	err = env.Comm.Upload(ctx, p.remotePath, r, 0o755)
	r.Close()
	if err != nil {
		return -1, fmt.Errorf("uploading the script to %s: %w", p.remotePath, err)
	}
	stdout, stderr := env.UI.Stdout(), env.UI.Stderr()
	defer stdout.Close()
	defer stderr.Close()
	return env.Comm.Run(ctx, &communicator.Cmd{Command: cmdline, Stdout: stdout, Stderr: stderr})
}

// statusHint explains the exit statuses the shell gives for a script it
// could not start.
func statusHint(status int) string {
	switch status {
	case 126:
		return " (126: the shell could not execute the script; if remote_folder (default /tmp) is mounted noexec, set remote_folder to a folder that allows execution, such as /var/tmp)"
	case 127:
		return " (127: a command of execute_command or the script was not found)"
	}
	return ""
}

// withoutCommand replaces the expanded execute_command in a communicator's
// error: it may hold a sudo password ("echo 'pw' | sudo -S ...") or
// environment values, and the error is printed.
func withoutCommand(err error, cmdline string) error {
	if err == nil || !strings.Contains(err.Error(), cmdline) && !strings.Contains(err.Error(), strconv.Quote(cmdline)) {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), strconv.Quote(cmdline), "execute_command")
	return redactedError{strings.ReplaceAll(msg, cmdline, "execute_command"), err}
}

type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// reconnect re-establishes the connection after an expected disconnect.
func reconnect(ctx context.Context, comm communicator.Communicator, deadline time.Time) error {
	rc, ok := comm.(communicator.Reconnecter)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := rc.Reconnect(ctx); err != nil {
		return fmt.Errorf("reconnecting after the expected disconnect: %w", err)
	}
	return nil
}

// remove deletes an uploaded file (skip_clean keeps it). Like Packer it
// retries for up to start_retry_timeout: a script that ran "systemctl
// reboot" exits 0 before the machine goes down, so the first attempt may
// meet a connection that is dropping or a machine that is still booting.
func (p *Provisioner) remove(ctx context.Context, env *plugin.ProvisionEnv, file string) error {
	deadline := time.Now().Add(p.cfg.StartRetryTimeout)
	for {
		status, err := env.Comm.Run(ctx, &communicator.Cmd{Command: "rm -f " + shellenv.Quote(file)})
		if err == nil && status != 0 {
			err = fmt.Errorf("rm exited with status %d", status)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return fmt.Errorf("removing %s from the machine (skip_clean = true keeps it): %w", file, err)
		}
		if _, ok := env.Comm.(communicator.Reconnecter); ok && errors.Is(err, communicator.ErrDisconnected) {
			if rerr := reconnect(ctx, env.Comm, deadline); rerr != nil {
				return fmt.Errorf("removing %s from the machine (skip_clean = true keeps it): %w", file, rerr)
			}
			continue
		}
		if werr := wait.Sleep(ctx, retryPause); werr != nil {
			return fmt.Errorf("removing %s from the machine (skip_clean = true keeps it): %w", file, err)
		}
	}
}

var errNoComm = errors.New("the shell provisioner needs a connection to the machine, but the source has none (communicator = \"none\", or a builder with no machine such as file): use shell-local, or set a communicator")
