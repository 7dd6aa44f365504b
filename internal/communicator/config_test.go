package communicator

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/secret"
)

func TestPrepareFillsPackersDefaults(t *testing.T) {
	c := &Config{SSHUsername: "u"}
	if _, err := c.Prepare(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		option    string
		got, want any
	}{
		{"communicator", c.Type, "ssh"},
		{"ssh_port", c.SSHPort, 22},
		{"ssh_timeout", c.SSHTimeout, 5 * time.Minute},
		{"ssh_handshake_attempts", c.SSHHandshakeAttempts, 10},
		{"ssh_keep_alive_interval", c.SSHKeepAliveInterval, 5 * time.Second},
		{"ssh_file_transfer_method", c.SSHFileTransferMethod, "scp"},
		{"temporary_key_pair_type", c.TemporaryKeyPairType, "rsa"},
		{"temporary_key_pair_bits", c.TemporaryKeyPairBits, 4096},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.option, tc.got, tc.want)
		}
	}
}

func TestPrepareDefaultsThatDependOnOtherOptions(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		in    Config
		check func(c *Config) bool
	}{
		{"ssh_timeout alone leaves handshake attempts unlimited",
			Config{SSHUsername: "u", SSHTimeout: time.Minute},
			func(c *Config) bool { return c.SSHHandshakeAttempts == 0 && c.SSHTimeout == time.Minute }},
		{"ssh_handshake_attempts alone keeps the default timeout",
			Config{SSHUsername: "u", SSHHandshakeAttempts: 3},
			func(c *Config) bool { return c.SSHHandshakeAttempts == 3 && c.SSHTimeout == 5*time.Minute }},
		{"ssh_wait_timeout is the old name of ssh_timeout",
			Config{SSHUsername: "u", SSHWaitTimeout: 7 * time.Minute},
			func(c *Config) bool { return c.SSHTimeout == 7*time.Minute }},
		{"the bastion defaults to port 22, the machine's user and key",
			Config{SSHUsername: "u", SSHPrivateKeyFile: key, SSHBastionHost: "b"},
			func(c *Config) bool {
				return c.SSHBastionPort == 22 && c.SSHBastionUsername == "u" && c.SSHBastionPrivateKeyFile == key
			}},
		{"the proxy defaults to port 1080",
			Config{SSHUsername: "u", SSHProxyHost: "p"},
			func(c *Config) bool { return c.SSHProxyPort == 1080 }},
		{"ecdsa keys default to the 521-bit curve, as in Packer",
			Config{SSHUsername: "u", TemporaryKeyPairType: "ecdsa"},
			func(c *Config) bool { return c.TemporaryKeyPairBits == 521 }},
		{"ed25519 keys need no bits",
			Config{SSHUsername: "u", TemporaryKeyPairType: "ed25519"},
			func(c *Config) bool { return c.TemporaryKeyPairBits == 0 }},
		{"none needs no username",
			Config{Type: "none"},
			func(c *Config) bool { return c.SSHPort == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.in
			if _, err := c.Prepare(); err != nil {
				t.Fatal(err)
			}
			if !tc.check(&c) {
				t.Errorf("after Prepare: %+v", c)
			}
		})
	}
}

func TestPrepareErrorsNameTheOption(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name string
		in   Config
		want string
	}{
		{"winrm is refused with a reason", Config{Type: "winrm", WinRMUsername: "Administrator"}, `"winrm" is not supported`},
		{"an unknown communicator", Config{Type: "telnet"}, `communicator "telnet" is not valid`},
		{"ssh needs a username", Config{}, "ssh_username"},
		{"an unknown transfer method", Config{SSHUsername: "u", SSHFileTransferMethod: "rsync"}, "ssh_file_transfer_method"},
		{"a missing key file", Config{SSHUsername: "u", SSHPrivateKeyFile: missing}, "ssh_private_key_file"},
		{"a certificate without its key", Config{SSHUsername: "u", SSHCertificateFile: missing}, "ssh_certificate_file needs ssh_private_key_file"},
		{"a bastion without credentials", Config{SSHUsername: "u", SSHBastionHost: "b"}, "ssh_bastion_password"},
		{"bastion and proxy together", Config{SSHUsername: "u", SSHBastionHost: "b", SSHBastionPassword: "pw", SSHProxyHost: "p"}, "ssh_bastion_host and ssh_proxy_host"},
		{"a port out of range", Config{SSHUsername: "u", SSHPort: 70000}, "ssh_port"},
		{"dsa keys", Config{SSHUsername: "u", TemporaryKeyPairType: "dsa"}, "OpenSSH no longer accepts DSA keys"},
		{"an ecdsa curve SSH lacks", Config{SSHUsername: "u", TemporaryKeyPairType: "ecdsa", TemporaryKeyPairBits: 224}, "use 256, 384 or 521"},
		{"too few rsa bits", Config{SSHUsername: "u", TemporaryKeyPairBits: 1024}, "temporary_key_pair_bits"},
		{"a malformed local tunnel", Config{SSHUsername: "u", SSHLocalTunnels: []string{"8080:localhost"}}, "ssh_local_tunnels"},
		{"a malformed remote tunnel", Config{SSHUsername: "u", SSHRemoteTunnels: []string{"x:localhost:80"}}, "ssh_remote_tunnels"},
		{"a negative timeout", Config{SSHUsername: "u", SSHTimeout: -time.Second}, "ssh_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.in
			_, err := c.Prepare()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPrepareAcceptsTheBuildersOwnCommunicator(t *testing.T) {
	c := &Config{Type: "docker"}
	if _, err := c.Prepare("docker"); err != nil {
		t.Errorf("docker communicator refused: %v", err)
	}
	c = &Config{Type: "docker"}
	if _, err := c.Prepare(); err == nil {
		t.Error("docker communicator accepted by a builder that does not offer it")
	}
}

func TestParseTunnel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Tunnel
		ok   bool
	}{
		{"8080:localhost:80", Tunnel{Port: 8080, Host: "localhost", HostPort: 80}, true},
		{"0.0.0.0:8080:db:5432", Tunnel{BindAddr: "0.0.0.0", Port: 8080, Host: "db", HostPort: 5432}, true},
		{"8080:localhost", Tunnel{}, false},
		{"99999:localhost:80", Tunnel{}, false},
		{"80::80", Tunnel{}, false},
	} {
		got, err := ParseTunnel(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseTunnel(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestPrepareRegistersPasswordsAsSecrets(t *testing.T) {
	c := &Config{SSHUsername: "u", SSHPassword: "hunter2-secret"}
	if _, err := c.Prepare(); err != nil {
		t.Fatal(err)
	}
	if got := secret.Mask("pw=hunter2-secret"); strings.Contains(got, "hunter2-secret") {
		t.Errorf("ssh_password not masked: %q", got)
	}
}

// packerOptions are the communicator options of Packer's documentation;
// templates that use any of them must decode.
var packerOptions = []string{
	"communicator", "pause_before_connecting",
	"ssh_host", "ssh_port", "ssh_username", "ssh_password", "ssh_private_key_file",
	"ssh_certificate_file", "ssh_agent_auth", "ssh_keypair_name", "temporary_key_pair_name",
	"temporary_key_pair_type", "temporary_key_pair_bits", "ssh_clear_authorized_keys",
	"ssh_timeout", "ssh_wait_timeout", "ssh_handshake_attempts", "ssh_pty",
	"ssh_keep_alive_interval", "ssh_read_write_timeout", "ssh_file_transfer_method",
	"ssh_ciphers", "ssh_key_exchange_algorithms", "ssh_disable_agent_forwarding",
	"ssh_local_tunnels", "ssh_remote_tunnels",
	"ssh_bastion_host", "ssh_bastion_port", "ssh_bastion_username", "ssh_bastion_password",
	"ssh_bastion_interactive", "ssh_bastion_private_key_file", "ssh_bastion_certificate_file",
	"ssh_bastion_agent_auth",
	"ssh_proxy_host", "ssh_proxy_port", "ssh_proxy_username", "ssh_proxy_password",
	"winrm_username", "winrm_password", "winrm_host", "winrm_port", "winrm_timeout",
	"winrm_use_ssl", "winrm_insecure", "winrm_use_ntlm", "winrm_no_proxy",
}

func TestConfigHasEveryPackerCommunicatorOption(t *testing.T) {
	tags := map[string]bool{}
	typ := reflect.TypeOf(Config{})
	for i := 0; i < typ.NumField(); i++ {
		if tag, ok := typ.Field(i).Tag.Lookup("hcl"); ok {
			name, opt, _ := strings.Cut(tag, ",")
			if opt != "optional" {
				t.Errorf("option %s is not optional", name)
			}
			tags[name] = true
		}
	}
	for _, o := range packerOptions {
		if !tags[o] {
			t.Errorf("option %s is missing", o)
		}
	}
}
