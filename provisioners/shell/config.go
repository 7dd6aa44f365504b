package shell

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/imgbuild/imgbuild/internal/shellenv"
)

// Config holds the shell provisioner's options, named as Packer's.
type Config struct {
	Inline            []string          `hcl:"inline,optional"`
	Script            string            `hcl:"script,optional"`
	Scripts           []string          `hcl:"scripts,optional"`
	Binary            bool              `hcl:"binary,optional"`
	EnvironmentVars   []string          `hcl:"environment_vars,optional"`
	Env               map[string]string `hcl:"env,optional"`
	EnvVarFormat      string            `hcl:"env_var_format,optional"`
	UseEnvVarFile     bool              `hcl:"use_env_var_file,optional"`
	ExecuteCommand    string            `hcl:"execute_command,optional"`
	InlineShebang     string            `hcl:"inline_shebang,optional"`
	RemoteFolder      string            `hcl:"remote_folder,optional"`
	RemoteFile        string            `hcl:"remote_file,optional"`
	RemotePath        string            `hcl:"remote_path,optional"`
	ExpectDisconnect  bool              `hcl:"expect_disconnect,optional"`
	ValidExitCodes    []int             `hcl:"valid_exit_codes,optional"`
	SkipClean         bool              `hcl:"skip_clean,optional"`
	StartRetryTimeout time.Duration     `hcl:"start_retry_timeout,optional"`
	PauseAfter        time.Duration     `hcl:"pause_after,optional"`

	// secretCommand is execute_command with the variables sourced from a
	// 0600 file instead of written into the command line, used when they
	// hold a secret (see Provision); nil when that cannot be done safely.
	secretCommand *template.Template
	// varsInCommandLine: execute_command puts the variables on the
	// command line and secretCommand cannot take them off it.
	varsInCommandLine bool
}

const (
	defaultExecute       = "chmod +x {{.Path}}; {{.Vars}} {{.Path}}"
	defaultExecuteEnvVar = "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}"
	envVarFileFormat     = "export %s='%s'\n"
)

// prepare fills Packer's defaults and checks the options.
func (c *Config) prepare() (*template.Template, map[string]string, error) {
	var errs []error
	n := 0
	for _, set := range []bool{len(c.Inline) > 0, c.Script != "", len(c.Scripts) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, errors.New("exactly one of inline, script or scripts must be set"))
	}
	if c.Script != "" {
		c.Scripts = []string{c.Script}
	}
	for _, s := range c.Scripts {
		if st, err := os.Stat(s); err != nil {
			errs = append(errs, fmt.Errorf("script %s cannot be read: %w", s, err))
		} else if st.IsDir() {
			errs = append(errs, fmt.Errorf("script %s is a folder, not a file", s))
		}
	}
	if c.InlineShebang == "" {
		c.InlineShebang = "/bin/sh -e"
	}
	userFormat := c.EnvVarFormat != ""
	if c.EnvVarFormat == "" {
		c.EnvVarFormat = "%s='%s' "
		if c.UseEnvVarFile {
			c.EnvVarFormat = envVarFileFormat
		}
	}
	if c.ExecuteCommand == "" {
		c.ExecuteCommand = defaultExecute
		if c.UseEnvVarFile {
			c.ExecuteCommand = defaultExecuteEnvVar
		}
	}
	if c.RemoteFolder == "" {
		c.RemoteFolder = "/tmp"
	}
	if len(c.ValidExitCodes) == 0 {
		c.ValidExitCodes = []int{0}
	}
	if c.StartRetryTimeout == 0 {
		c.StartRetryTimeout = 5 * time.Minute
	}
	tmpl, err := parseExecuteCommand(c.ExecuteCommand)
	if err != nil {
		errs = append(errs, fmt.Errorf("execute_command is not a valid template: %w", err))
	} else if !c.UseEnvVarFile && shellenv.UsesVars(c.ExecuteCommand) {
		// A custom env_var_format may be another shell's syntax: only
		// Packer's default one can become the file's exports.
		if sourcing := shellenv.ReplaceVarsAtCommandStart(c.ExecuteCommand, ". {{.EnvVarFile}} &&"); sourcing != "" && !userFormat {
			c.secretCommand, err = parseExecuteCommand(sourcing)
			if err != nil {
				errs = append(errs, fmt.Errorf("execute_command: %w", err))
			}
		} else {
			c.varsInCommandLine = true
		}
	}
	env, err := shellenv.ParseEnv(c.EnvironmentVars, c.Env)
	if err != nil {
		errs = append(errs, err)
	}
	if strings.Count(c.EnvVarFormat, "%s") != 2 {
		errs = append(errs, fmt.Errorf("env_var_format %q must contain %%s twice (name, then value)", c.EnvVarFormat))
	}
	return tmpl, env, errors.Join(errs...)
}

// parsedCommands caches execute_command templates by text: a template with
// hundreds of builds prepares the same few commands hundreds of times, and
// a parsed template is safe to execute concurrently.
var parsedCommands sync.Map // string -> *template.Template

func parseExecuteCommand(text string) (*template.Template, error) {
	if t, ok := parsedCommands.Load(text); ok {
		return t.(*template.Template), nil
	}
	t, err := template.New("execute_command").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	parsedCommands.Store(text, t)
	return t, nil
}

// remotePath is where scripts are uploaded: remote_path, or remote_file
// (by default a random script_<n>.sh, as Packer's) in remote_folder. The
// random name is drawn here, not kept in the options: the step cache keys
// a provisioner by its options and drops those that change between two
// configurations, which a name from 9999 misses one time in 9999.
func (c *Config) remotePath() string {
	if c.RemotePath != "" {
		return c.RemotePath
	}
	file := c.RemoteFile
	if file == "" {
		file = fmt.Sprintf("script_%d.sh", rand.IntN(9999))
	}
	return path.Join(c.RemoteFolder, file)
}
