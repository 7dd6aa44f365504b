package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

// provisionHook is the hook a plugin builder calls when its machine is
// reachable (packer_provision): it runs the build's provisioners, native
// or plugin, over the communicator the builder serves.
type provisionHook struct {
	ctx context.Context // the build's
	env *plugin.BuildEnv
}

var _ packersdk.Hook = (*provisionHook)(nil)

func (h *provisionHook) Run(callCtx context.Context, name string, _ packersdk.Ui, comm packersdk.Communicator, data any) error {
	if name != packersdk.HookProvision || h.env.Provision == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	if callCtx != nil {
		// The plugin cancels the hook when its own build is cancelled.
		stop := context.AfterFunc(callCtx, cancel)
		defer stop()
	}
	var c communicator.Communicator = noComm{}
	if comm != nil {
		c = &remoteComm{comm: comm}
	}
	return h.env.Provision(ctx, c, generatedData(data))
}

// generatedData turns the hook's data (the builder's generated values,
// build.*) into imgbuild's form.
func generatedData(data any) plugin.GeneratedData {
	out := plugin.GeneratedData{}
	m, ok := data.(map[string]any)
	if !ok {
		return out
	}
	for k, v := range m {
		switch v := v.(type) {
		case nil:
		case string:
			out[k] = v
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// provisionerData is what Packer hands a provisioner as its generated
// data: the build.* values.
func provisionerData(env *plugin.ProvisionEnv) map[string]any {
	out := make(map[string]any, len(env.Generated)+1)
	for k, v := range env.Generated {
		out[k] = v
	}
	if _, ok := out["PackerRunUUID"]; !ok && env.RunUUID != "" {
		out["PackerRunUUID"] = env.RunUUID
	}
	// Keys Packer's hook data always has, with their types: plugins
	// assert them (the ansible plugin without its proxy reads both).
	if _, ok := out["SSHPrivateKeyFile"]; !ok {
		out["SSHPrivateKeyFile"] = ""
	}
	out["SSHAgentAuth"] = env.Generated["SSHAgentAuth"] == "true"
	return out
}

// noComm stands for the communicator of a builder that serves none
// (communicator = "none"): a provisioner that needs one fails clearly.
type noComm struct{}

var errNoComm = errors.New(`the builder has no communicator (communicator = "none"), so provisioners cannot reach the machine`)

func (noComm) Run(context.Context, *communicator.Cmd) (int, error)          { return 0, errNoComm }
func (noComm) Upload(context.Context, string, io.Reader, fs.FileMode) error { return errNoComm }
func (noComm) UploadDir(context.Context, string, string, []string) error    { return errNoComm }
func (noComm) Download(context.Context, string, io.Writer) error            { return errNoComm }
func (noComm) DownloadDir(context.Context, string, string, []string) error  { return errNoComm }
