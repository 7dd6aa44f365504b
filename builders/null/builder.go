// Package null is Packer's "null" builder: it creates no machine. It
// connects to an existing host with the communicator options (ssh_host,
// ssh_username, ...) and runs the build's provisioners there. It is used to
// provision machines that already exist, and in tests.
package null

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"

	gossh "golang.org/x/crypto/ssh"

	"github.com/imgbuild/imgbuild/internal/communicator"
	sshcomm "github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// BuilderID is Packer's id for the null builder's artifacts.
const BuilderID = "fnoeding.null"

func init() {
	plugin.RegisterBuilder("null", func() plugin.Builder { return &Builder{} })
}

// Config is the null builder's configuration: the communicator's options
// and nothing else.
type Config struct {
	communicator.Config
}

// Builder is the null builder.
type Builder struct {
	config Config
}

// Config returns the configuration for the template engine to decode into.
func (b *Builder) Config() any { return &b.config }

// Prepare checks that the host can be reached: an address, a user, and
// exactly one way to authenticate (as Packer's null builder requires).
func (b *Builder) Prepare() ([]string, error) {
	c := &b.config.Config
	warnings, err := c.Prepare()
	errs := []error{err}
	if c.Type == communicator.TypeSSH {
		if c.SSHHost == "" {
			errs = append(errs, errors.New("ssh_host must be set: the null builder connects to an existing machine"))
		}
		methods := 0
		for _, set := range []bool{c.SSHAgentAuth, c.SSHPassword != "", c.SSHPrivateKeyFile != ""} {
			if set {
				methods++
			}
		}
		switch {
		case methods == 0:
			errs = append(errs, errors.New("set one of ssh_password, ssh_private_key_file or ssh_agent_auth to log in to ssh_host"))
		case methods > 1:
			errs = append(errs, errors.New("set only one of ssh_password, ssh_private_key_file and ssh_agent_auth"))
		}
	}
	return warnings, errors.Join(errs...)
}

// state is what the null builder's steps share.
type state struct {
	comm communicator.Communicator
	data plugin.GeneratedData
}

// Run connects to the host and runs the provisioners.
func (b *Builder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	c := &b.config.Config
	st := &state{data: b.generatedData(env)}
	opts := env.StepOptions()
	err := steps.Run(ctx, st, opts,
		steps.Step[state]{Name: "connect", Run: func(ctx context.Context, st *state) (steps.Cleanup, error) {
			if c.Type == communicator.TypeNone {
				st.comm = noComm{}
				return nil, nil
			}
			comm, err := sshcomm.Connect(ctx, c, c.SSHHost, c.SSHPort, env.UI)
			if err != nil {
				return nil, err
			}
			st.comm = comm
			return func(context.Context) error { return comm.Close() }, nil
		}},
		steps.Step[state]{Name: "provision", Run: func(ctx context.Context, st *state) (steps.Cleanup, error) {
			if env.Provision == nil {
				return nil, nil
			}
			return nil, env.Provision(ctx, st.comm, st.data)
		}},
	)
	if err != nil {
		return nil, err
	}
	return &Artifact{data: st.data}, nil
}

// generatedData fills the build.* values the null builder knows.
func (b *Builder) generatedData(env *plugin.BuildEnv) plugin.GeneratedData {
	c := &b.config.Config
	data := plugin.GeneratedData{}
	for _, k := range plugin.CommonGeneratedKeys {
		data[k] = ""
	}
	data["ID"] = "Null"
	data["PackerRunUUID"] = env.RunUUID
	data["ConnType"] = c.Type
	if c.Type == communicator.TypeSSH {
		data["Host"] = c.SSHHost
		data["Port"] = strconv.Itoa(c.SSHPort)
		data["User"] = c.SSHUsername
		data["Password"] = c.SSHPassword
		if c.SSHPrivateKeyFile != "" {
			if pemBytes, err := os.ReadFile(c.SSHPrivateKeyFile); err == nil {
				secret.Add(string(pemBytes))
				data["SSHPrivateKey"] = string(pemBytes)
				if signer, err := gossh.ParsePrivateKey(pemBytes); err == nil {
					data["SSHPublicKey"] = string(gossh.MarshalAuthorizedKey(signer.PublicKey()))
				}
			}
		}
	}
	return data
}

// Artifact is the null builder's result: nothing.
type Artifact struct {
	data plugin.GeneratedData
}

func (a *Artifact) BuilderID() string { return BuilderID }
func (a *Artifact) ID() string        { return "Null" }
func (a *Artifact) Files() []string   { return nil }
func (a *Artifact) String() string {
	return "Did not export anything: the null builder makes no artifact"
}

// State returns "generated_data" (the build.* values); nil otherwise.
func (a *Artifact) State(name string) any {
	if name == "generated_data" {
		return a.data
	}
	return nil
}

func (a *Artifact) Destroy(context.Context) error { return nil }

// noComm stands in for a communicator when communicator = "none".
type noComm struct{}

var errNoComm = fmt.Errorf(`communicator = "none": this provisioner needs a communicator (set communicator = "ssh" and ssh_host)`)

func (noComm) Run(context.Context, *communicator.Cmd) (int, error) { return -1, errNoComm }
func (noComm) Upload(context.Context, string, io.Reader, fs.FileMode) error {
	return errNoComm
}
func (noComm) UploadDir(context.Context, string, string, []string) error { return errNoComm }
func (noComm) Download(context.Context, string, io.Writer) error         { return errNoComm }
func (noComm) DownloadDir(context.Context, string, string, []string) error {
	return errNoComm
}
