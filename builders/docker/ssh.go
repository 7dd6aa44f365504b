package docker

import (
	"context"
	"fmt"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/communicator/ssh"
)

// connectSSH serves communicator = "ssh": Packer then connects to the
// container's address (or ssh_host) instead of using exec.
func connectSSH(ctx context.Context, st *state) (communicator.Communicator, func(), error) {
	host := st.cfg.SSHHost
	if host == "" {
		host = st.generated["Host"]
	}
	if host == "" {
		return nil, nil, fmt.Errorf("communicator = \"ssh\": container %s has no IP address on the default bridge; set ssh_host", short(st.containerID))
	}
	comm, err := ssh.Connect(ctx, &st.cfg.Config, host, st.cfg.SSHPort, st.env.UI)
	if err != nil {
		return nil, nil, err
	}
	st.generated["Port"] = fmt.Sprint(st.cfg.SSHPort)
	st.generated["User"] = st.cfg.SSHUsername
	return &checkpointSSH{Comm: comm, st: st}, func() { comm.Close() }, nil
}
