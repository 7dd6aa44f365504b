package communicator

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// Config holds Packer's communicator options under Packer's names. Builders
// embed it (as an anonymous field) so that the template engine flattens its
// options into the source block, then call Prepare from their own Prepare.
//
// Only "ssh" and "none" are implemented (plus a builder's own, such as
// "docker"). The winrm_* options are accepted so that templates written for
// Packer still decode, but communicator = "winrm" fails Prepare.
type Config struct {
	// Type is "ssh" (the default), "none", "winrm", or a builder's own.
	Type string `hcl:"communicator,optional"`
	// PauseBeforeConnecting: once SSH answers, disconnect and wait this
	// long before connecting for good (for guests that are still setting up).
	PauseBeforeConnecting time.Duration `hcl:"pause_before_connecting,optional"`

	SSHHost     string `hcl:"ssh_host,optional"`
	SSHPort     int    `hcl:"ssh_port,optional"`
	SSHUsername string `hcl:"ssh_username,optional"`
	SSHPassword string `hcl:"ssh_password,optional"`

	SSHPrivateKeyFile  string `hcl:"ssh_private_key_file,optional"`
	SSHCertificateFile string `hcl:"ssh_certificate_file,optional"`
	SSHAgentAuth       bool   `hcl:"ssh_agent_auth,optional"`
	// SSHKeyPairName names an existing cloud key pair (amazon-ebs).
	SSHKeyPairName string `hcl:"ssh_keypair_name,optional"`
	// TemporaryKeyPairName names the cloud key pair a builder creates.
	TemporaryKeyPairName string `hcl:"temporary_key_pair_name,optional"`
	// TemporaryKeyPairType is "rsa" (default), "ecdsa" or "ed25519"; "dsa"
	// is refused with a message. Cloud builders may allow fewer.
	TemporaryKeyPairType string `hcl:"temporary_key_pair_type,optional"`
	// TemporaryKeyPairBits is the RSA key size (default 4096, minimum 2048)
	// or the ECDSA curve (256, 384 or 521, the default).
	TemporaryKeyPairBits int `hcl:"temporary_key_pair_bits,optional"`
	// SSHClearAuthorizedKeys asks the builder to remove the temporary
	// public key from the guest's authorized_keys after provisioning.
	SSHClearAuthorizedKeys bool `hcl:"ssh_clear_authorized_keys,optional"`

	SSHTimeout time.Duration `hcl:"ssh_timeout,optional"`
	// SSHWaitTimeout is the old spelling of ssh_timeout.
	SSHWaitTimeout       time.Duration `hcl:"ssh_wait_timeout,optional"`
	SSHHandshakeAttempts int           `hcl:"ssh_handshake_attempts,optional"`
	SSHPty               bool          `hcl:"ssh_pty,optional"`
	// SSHKeepAliveInterval defaults to 5s; a negative value disables.
	SSHKeepAliveInterval time.Duration `hcl:"ssh_keep_alive_interval,optional"`
	SSHReadWriteTimeout  time.Duration `hcl:"ssh_read_write_timeout,optional"`
	// SSHFileTransferMethod is "scp" (default) or "sftp".
	SSHFileTransferMethod     string   `hcl:"ssh_file_transfer_method,optional"`
	SSHCiphers                []string `hcl:"ssh_ciphers,optional"`
	SSHKEXAlgorithms          []string `hcl:"ssh_key_exchange_algorithms,optional"`
	SSHDisableAgentForwarding bool     `hcl:"ssh_disable_agent_forwarding,optional"`
	// SSHLocalTunnels and SSHRemoteTunnels take "PORT:HOST:PORT" forms.
	SSHLocalTunnels  []string `hcl:"ssh_local_tunnels,optional"`
	SSHRemoteTunnels []string `hcl:"ssh_remote_tunnels,optional"`

	SSHBastionHost            string `hcl:"ssh_bastion_host,optional"`
	SSHBastionPort            int    `hcl:"ssh_bastion_port,optional"`
	SSHBastionUsername        string `hcl:"ssh_bastion_username,optional"`
	SSHBastionPassword        string `hcl:"ssh_bastion_password,optional"`
	SSHBastionInteractive     bool   `hcl:"ssh_bastion_interactive,optional"`
	SSHBastionPrivateKeyFile  string `hcl:"ssh_bastion_private_key_file,optional"`
	SSHBastionCertificateFile string `hcl:"ssh_bastion_certificate_file,optional"`
	SSHBastionAgentAuth       bool   `hcl:"ssh_bastion_agent_auth,optional"`

	// SOCKS5 proxy for the SSH connection.
	SSHProxyHost     string `hcl:"ssh_proxy_host,optional"`
	SSHProxyPort     int    `hcl:"ssh_proxy_port,optional"`
	SSHProxyUsername string `hcl:"ssh_proxy_username,optional"`
	SSHProxyPassword string `hcl:"ssh_proxy_password,optional"`

	// SSHKnownHostsFile is an imgbuild extension (not a Packer option): when
	// set, the machine's host key must be listed in this known_hosts file.
	// Without it, the host key seen first is accepted and recorded.
	SSHKnownHostsFile string `hcl:"ssh_known_hosts_file,optional"`

	// WinRM options, accepted for template compatibility only.
	WinRMUsername string        `hcl:"winrm_username,optional"`
	WinRMPassword string        `hcl:"winrm_password,optional"`
	WinRMHost     string        `hcl:"winrm_host,optional"`
	WinRMPort     int           `hcl:"winrm_port,optional"`
	WinRMTimeout  time.Duration `hcl:"winrm_timeout,optional"`
	WinRMUseSSL   bool          `hcl:"winrm_use_ssl,optional"`
	WinRMInsecure bool          `hcl:"winrm_insecure,optional"`
	WinRMUseNTLM  bool          `hcl:"winrm_use_ntlm,optional"`
	WinRMNoProxy  bool          `hcl:"winrm_no_proxy,optional"`

	// SSHPrivateKey is not an option: a builder that generated a temporary
	// key pair puts the private key (PEM) here before connecting. The
	// template engine ignores fields without an hcl tag.
	SSHPrivateKey []byte
}

// Communicator types.
const (
	TypeSSH   = "ssh"
	TypeNone  = "none"
	TypeWinRM = "winrm"
)

// Defaults, as in Packer.
const (
	DefaultSSHPort           = 22
	DefaultSSHTimeout        = 5 * time.Minute
	DefaultHandshakeAttempts = 10
	DefaultKeepAliveInterval = 5 * time.Second
	DefaultProxyPort         = 1080
	DefaultKeyPairType       = "rsa"
	DefaultRSABits           = 4096
	DefaultECDSABits         = 521
)

// Prepare fills defaults and checks the options. builderTypes lists the
// builder's own communicator types (such as "docker") that it accepts
// besides "ssh" and "none". Every error names the option at fault.
func (c *Config) Prepare(builderTypes ...string) (warnings []string, err error) {
	if c.Type == "" {
		c.Type = TypeSSH
	}
	secret.Add(c.SSHPassword, c.SSHBastionPassword, c.SSHProxyPassword, c.WinRMPassword)
	switch {
	case c.Type == TypeSSH:
		return c.prepareSSH()
	case c.Type == TypeNone:
		return nil, nil
	case c.Type == TypeWinRM:
		return nil, errors.New(`communicator = "winrm" is not supported by imgbuild (only "ssh" and "none"); ` +
			`build Windows images with Packer, or use an SSH server on the guest`)
	}
	for _, t := range builderTypes {
		if c.Type == t {
			return nil, nil
		}
	}
	valid := append([]string{TypeSSH, TypeNone}, builderTypes...)
	return nil, fmt.Errorf("communicator %q is not valid: use one of %s", c.Type, strings.Join(valid, ", "))
}

func (c *Config) prepareSSH() (warnings []string, err error) {
	var errs []error
	if c.SSHPort == 0 {
		c.SSHPort = DefaultSSHPort
	}
	if c.SSHWaitTimeout != 0 {
		warnings = append(warnings, "ssh_wait_timeout is deprecated: use ssh_timeout")
		if c.SSHTimeout == 0 {
			c.SSHTimeout = c.SSHWaitTimeout
		}
	}
	// As in Packer, ten handshake attempts only when neither is set.
	if c.SSHTimeout == 0 && c.SSHHandshakeAttempts == 0 {
		c.SSHHandshakeAttempts = DefaultHandshakeAttempts
	}
	if c.SSHTimeout == 0 {
		c.SSHTimeout = DefaultSSHTimeout
	}
	if c.SSHTimeout < 0 {
		errs = append(errs, errors.New("ssh_timeout must not be negative"))
	}
	if c.SSHHandshakeAttempts < 0 {
		errs = append(errs, errors.New("ssh_handshake_attempts must not be negative"))
	}
	if c.PauseBeforeConnecting < 0 {
		errs = append(errs, errors.New("pause_before_connecting must not be negative"))
	}
	if c.SSHKeepAliveInterval == 0 {
		c.SSHKeepAliveInterval = DefaultKeepAliveInterval
	}
	if c.SSHReadWriteTimeout < 0 {
		errs = append(errs, errors.New("ssh_read_write_timeout must not be negative"))
	}
	if c.SSHPort < 1 || c.SSHPort > 65535 {
		errs = append(errs, fmt.Errorf("ssh_port %d is not a TCP port (1-65535)", c.SSHPort))
	}
	if c.SSHUsername == "" {
		errs = append(errs, errors.New("ssh_username must be set for the ssh communicator"))
	}

	switch c.SSHFileTransferMethod {
	case "":
		c.SSHFileTransferMethod = "scp"
	case "scp", "sftp":
	default:
		errs = append(errs, fmt.Errorf("ssh_file_transfer_method %q is not valid: use \"scp\" or \"sftp\"", c.SSHFileTransferMethod))
	}

	switch c.TemporaryKeyPairType {
	case "":
		c.TemporaryKeyPairType = DefaultKeyPairType
	case "rsa", "ecdsa", "ed25519":
	case "dsa":
		// OpenSSH refuses DSA keys by default since 7.0 and dropped them
		// in 9.8: a build with one could not log in to a current system.
		errs = append(errs, errors.New(`temporary_key_pair_type "dsa" is not supported by imgbuild: OpenSSH no longer accepts DSA keys; use "ed25519", "ecdsa" or "rsa"`))
	default:
		errs = append(errs, fmt.Errorf("temporary_key_pair_type %q is not valid: use \"rsa\", \"ecdsa\" or \"ed25519\"", c.TemporaryKeyPairType))
	}
	switch c.TemporaryKeyPairType {
	case "rsa":
		if c.TemporaryKeyPairBits == 0 {
			c.TemporaryKeyPairBits = DefaultRSABits
		} else if c.TemporaryKeyPairBits < 2048 || c.TemporaryKeyPairBits > 16384 {
			errs = append(errs, fmt.Errorf("temporary_key_pair_bits %d is not valid for rsa: use 2048 to 16384", c.TemporaryKeyPairBits))
		}
	case "ecdsa":
		switch c.TemporaryKeyPairBits {
		case 0:
			c.TemporaryKeyPairBits = DefaultECDSABits
		case 256, 384, 521:
		default:
			errs = append(errs, fmt.Errorf("temporary_key_pair_bits %d is not valid for ecdsa: use 256, 384 or 521", c.TemporaryKeyPairBits))
		}
	}

	if c.SSHCertificateFile != "" && c.SSHPrivateKeyFile == "" {
		errs = append(errs, errors.New("ssh_certificate_file needs ssh_private_key_file (the key the certificate signs)"))
	}
	errs = append(errs, checkFile("ssh_private_key_file", &c.SSHPrivateKeyFile))
	errs = append(errs, checkFile("ssh_certificate_file", &c.SSHCertificateFile))
	errs = append(errs, checkFile("ssh_known_hosts_file", &c.SSHKnownHostsFile))

	if c.SSHBastionHost != "" {
		if c.SSHBastionPort == 0 {
			c.SSHBastionPort = DefaultSSHPort
		}
		if c.SSHBastionPort < 1 || c.SSHBastionPort > 65535 {
			errs = append(errs, fmt.Errorf("ssh_bastion_port %d is not a TCP port (1-65535)", c.SSHBastionPort))
		}
		if c.SSHBastionUsername == "" {
			c.SSHBastionUsername = c.SSHUsername
		}
		// As in Packer, the machine's key also opens the bastion by default.
		if c.SSHBastionPrivateKeyFile == "" && c.SSHPrivateKeyFile != "" {
			c.SSHBastionPrivateKeyFile = c.SSHPrivateKeyFile
			c.SSHBastionCertificateFile = c.SSHCertificateFile
		}
		if c.SSHBastionPassword == "" && c.SSHBastionPrivateKeyFile == "" && !c.SSHBastionAgentAuth {
			errs = append(errs, errors.New("ssh_bastion_host needs ssh_bastion_password, ssh_bastion_private_key_file or ssh_bastion_agent_auth"))
		}
		if c.SSHBastionCertificateFile != "" && c.SSHBastionPrivateKeyFile == "" {
			errs = append(errs, errors.New("ssh_bastion_certificate_file needs ssh_bastion_private_key_file"))
		}
		errs = append(errs, checkFile("ssh_bastion_private_key_file", &c.SSHBastionPrivateKeyFile))
		errs = append(errs, checkFile("ssh_bastion_certificate_file", &c.SSHBastionCertificateFile))
	}
	if c.SSHProxyHost != "" {
		if c.SSHProxyPort == 0 {
			c.SSHProxyPort = DefaultProxyPort
		}
		if c.SSHProxyPort < 1 || c.SSHProxyPort > 65535 {
			errs = append(errs, fmt.Errorf("ssh_proxy_port %d is not a TCP port (1-65535)", c.SSHProxyPort))
		}
	}
	if c.SSHBastionHost != "" && c.SSHProxyHost != "" {
		errs = append(errs, errors.New("ssh_bastion_host and ssh_proxy_host cannot both be set: choose one"))
	}
	for _, t := range c.SSHLocalTunnels {
		if _, err := ParseTunnel(t); err != nil {
			errs = append(errs, fmt.Errorf("ssh_local_tunnels: %w", err))
		}
	}
	for _, t := range c.SSHRemoteTunnels {
		if _, err := ParseTunnel(t); err != nil {
			errs = append(errs, fmt.Errorf("ssh_remote_tunnels: %w", err))
		}
	}
	return warnings, errors.Join(errs...)
}

// checkFile expands a leading "~/" in *path and checks the file exists.
func checkFile(option string, path *string) error {
	if *path == "" {
		return nil
	}
	p, err := ExpandHome(*path)
	if err != nil {
		return fmt.Errorf("%s: %w", option, err)
	}
	*path = p
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("%s: %w", option, err)
	}
	return nil
}

// ExpandHome replaces a leading "~" or "~/" with the user's home folder.
func ExpandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expanding %q: %w", p, err)
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

// Tunnel is a parsed ssh_local_tunnels or ssh_remote_tunnels entry:
// "PORT:HOST:HOSTPORT", optionally "BINDADDR:PORT:HOST:HOSTPORT".
type Tunnel struct {
	BindAddr string // "" means localhost
	Port     int
	Host     string
	HostPort int
}

// ParseTunnel parses a tunnel specification.
func ParseTunnel(s string) (Tunnel, error) {
	parts := strings.Split(s, ":")
	var t Tunnel
	switch len(parts) {
	case 3:
	case 4:
		t.BindAddr, parts = parts[0], parts[1:]
	default:
		return t, fmt.Errorf("%q is not a tunnel: use PORT:HOST:HOSTPORT", s)
	}
	var err error
	if t.Port, err = strconv.Atoi(parts[0]); err != nil || t.Port < 1 || t.Port > 65535 {
		return t, fmt.Errorf("%q: %q is not a TCP port", s, parts[0])
	}
	if t.Host = parts[1]; t.Host == "" {
		return t, fmt.Errorf("%q: the host is empty", s)
	}
	if t.HostPort, err = strconv.Atoi(parts[2]); err != nil || t.HostPort < 1 || t.HostPort > 65535 {
		return t, fmt.Errorf("%q: %q is not a TCP port", s, parts[2])
	}
	return t, nil
}
