// Package localshell runs commands or scripts on the machine imgbuild runs
// on, with Packer's shell-local options: the shell-local provisioner and
// post-processor are both this.
package localshell

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/template"

	"github.com/imgbuild/imgbuild/internal/communicator/local"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/shellenv"
	"github.com/imgbuild/imgbuild/internal/tempdir"
)

// Config holds shell-local's options, named as Packer's.
type Config struct {
	Command           string            `hcl:"command,optional"`
	Inline            []string          `hcl:"inline,optional"`
	Script            string            `hcl:"script,optional"`
	Scripts           []string          `hcl:"scripts,optional"`
	EnvironmentVars   []string          `hcl:"environment_vars,optional"`
	Env               map[string]string `hcl:"env,optional"`
	EnvVarFormat      string            `hcl:"env_var_format,optional"`
	ExecuteCommand    []string          `hcl:"execute_command,optional"`
	InlineShebang     string            `hcl:"inline_shebang,optional"`
	OnlyOn            []string          `hcl:"only_on,optional"`
	TempfileExtension string            `hcl:"tempfile_extension,optional"`
	UseLinuxPathing   bool              `hcl:"use_linux_pathing,optional"`
	ValidExitCodes    []int             `hcl:"valid_exit_codes,optional"`

	env   map[string]string
	tmpls []*template.Template
	// inheritVars: execute_command and env_var_format are Packer's, so
	// the variables can reach the script through the process environment
	// instead of its command line when they hold a secret (see Run).
	inheritVars bool
	// varsInArgs: a user's execute_command puts the variables in the
	// command line.
	varsInArgs bool
}

// Prepare fills Packer's defaults and checks the options.
func (c *Config) Prepare() error {
	var errs []error
	if c.Command != "" {
		c.Inline = append([]string{c.Command}, c.Inline...)
	}
	if c.Script != "" {
		c.Scripts = append([]string{c.Script}, c.Scripts...)
	}
	if (len(c.Inline) > 0) == (len(c.Scripts) > 0) {
		errs = append(errs, errors.New("set exactly one of command, inline, script or scripts"))
	}
	for _, s := range c.Scripts {
		if _, err := os.Stat(s); err != nil {
			errs = append(errs, fmt.Errorf("script %s cannot be read: %w", s, err))
		}
	}
	if c.InlineShebang == "" {
		c.InlineShebang = "/bin/sh -e"
	}
	c.inheritVars = c.EnvVarFormat == "" && len(c.ExecuteCommand) == 0
	c.varsInArgs = slices.ContainsFunc(c.ExecuteCommand, shellenv.UsesVars)
	if c.EnvVarFormat == "" {
		c.EnvVarFormat = "%s='%s' "
	}
	if len(c.ExecuteCommand) == 0 {
		c.ExecuteCommand = []string{"/bin/sh", "-c", "{{.Vars}} {{.Script}}"}
	}
	if len(c.ValidExitCodes) == 0 {
		c.ValidExitCodes = []int{0}
	}
	env, err := shellenv.ParseEnv(c.EnvironmentVars, c.Env)
	if err != nil {
		errs = append(errs, err)
	}
	c.env = env
	c.tmpls = c.tmpls[:0]
	for i, arg := range c.ExecuteCommand {
		t, err := template.New("execute_command").Option("missingkey=error").Parse(arg)
		if err != nil {
			errs = append(errs, fmt.Errorf("execute_command[%d] is not a valid template: %w", i, err))
		}
		c.tmpls = append(c.tmpls, t)
	}
	return errors.Join(errs...)
}

// Run runs the commands or scripts on this machine with env's variables
// (PACKER_BUILD_NAME, ...) and the configured ones.
func (c *Config) Run(ctx context.Context, u plugin.UI, packerEnv map[string]string) error {
	if len(c.OnlyOn) > 0 && !slices.Contains(c.OnlyOn, runtime.GOOS) {
		u.Say(fmt.Sprintf("Skipping shell-local: only_on %v does not include %s", c.OnlyOn, runtime.GOOS))
		return nil
	}
	vars := maps.Clone(packerEnv)
	maps.Copy(vars, c.env)
	flat := shellenv.FlattenEnv(c.EnvVarFormat, vars)
	var procEnv []string
	if secret.Mask(flat) != flat {
		// A secret in the command line would show in ps to every user of
		// this machine; the process environment only to its owner.
		for _, k := range slices.Sorted(maps.Keys(vars)) {
			procEnv = append(procEnv, k+"="+vars[k])
		}
		switch {
		case c.inheritVars:
			flat = ""
		case c.varsInArgs:
			u.Error("Warning: environment_vars hold a sensitive value, and the custom execute_command puts {{.Vars}} on the command line, where ps shows it to every user of this machine. Leave {{.Vars}} out: the variables are in the command's environment too.")
		}
	}

	scripts := c.Scripts
	if len(c.Inline) > 0 {
		path, remove, err := c.writeInline()
		if err != nil {
			return err
		}
		defer remove()
		scripts = []string{path}
	}
	for _, script := range scripts {
		argv, err := c.argv(flat, script)
		if err != nil {
			return err
		}
		u.Say("Running local shell script: " + script)
		stdout, stderr := u.Stdout(), u.Stderr()
		status, err := local.RunArgs(ctx, "", procEnv, argv, nil, stdout, stderr)
		stdout.Close()
		stderr.Close()
		if err != nil {
			return fmt.Errorf("running local script %s: %w", script, err)
		}
		if !slices.Contains(c.ValidExitCodes, status) {
			return fmt.Errorf("local script %s exited with non-zero exit status: %d; allowed exit codes are: %v", script, status, c.ValidExitCodes)
		}
	}
	return nil
}

func (c *Config) argv(vars, script string) ([]string, error) {
	data := map[string]string{"Vars": vars, "Script": script, "Command": script, "WinRMPassword": ""}
	out := make([]string, 0, len(c.tmpls))
	for _, t := range c.tmpls {
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("expanding execute_command: %w", err)
		}
		out = append(out, b.String())
	}
	return out, nil
}

// writeInline writes the inline commands to an executable temporary file,
// and returns what removes it.
func (c *Config) writeInline() (string, func() error, error) {
	f, remove, err := tempdir.File("imgbuild-shell-local-*" + c.TempfileExtension)
	if err != nil {
		return "", nil, fmt.Errorf("writing the inline commands to a temporary file: %w", err)
	}
	_, err = fmt.Fprintf(f, "#!%s\n%s\n", c.InlineShebang, strings.Join(c.Inline, "\n"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o700)
	}
	if err != nil {
		remove()
		return "", nil, fmt.Errorf("writing the inline commands to %s: %w", f.Name(), err)
	}
	return f.Name(), remove, nil
}
