package qemu

import (
	"context"
	"fmt"

	"github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/srcfile"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// stepKeyPair makes a temporary SSH key pair when the template gives no
// password, key file or agent, as Packer does: boot_command and
// http_content can hand its public key ({{ .SSHPublicKey }},
// build.SSHPublicKey) to the guest's installer.
func stepKeyPair(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	if c.Type == "ssh" && c.SSHPrivateKeyFile != "" {
		// Packer hands provisioners the key (build.SSHPrivateKey): the
		// ansible plugin connects with it when it does not proxy.
		key, err := srcfile.Read(c.SSHPrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading ssh_private_key_file: %w", err)
		}
		secret.Add(string(key))
		st.generated["SSHPrivateKey"] = string(key)
	}
	if c.Type != "ssh" || c.SSHPassword != "" || c.SSHPrivateKeyFile != "" || c.SSHAgentAuth || len(c.SSHPrivateKey) > 0 {
		return nil, nil
	}
	st.ui.Say("Creating a temporary " + c.TemporaryKeyPairType + " SSH key pair")
	kp, err := ssh.GenerateKeyPair(c.TemporaryKeyPairType, c.TemporaryKeyPairBits, "imgbuild-"+st.env.RunUUID)
	if err != nil {
		return nil, err
	}
	c.SSHPrivateKey = kp.PrivateKeyPEM
	st.sshPublicKey = kp.AuthorizedKey
	st.generated["SSHPublicKey"] = kp.AuthorizedKey
	st.generated["SSHPrivateKey"] = string(kp.PrivateKeyPEM)
	return nil, nil
}
