package amazonebs

import (
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

func validConfig() *Config {
	return &Config{
		AMIConfig: AMIConfig{AMIName: "my-ami-{{timestamp}}"},
		RunConfig: RunConfig{InstanceType: "t3.micro", SourceAMI: "ami-12345678"},
		Config:    communicator.Config{SSHUsername: "ubuntu"},
	}
}

func TestPrepareRejectsWhatPackerRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"no ami_name", func(c *Config) { c.AMIName = "" }, "ami_name must be set"},
		{"ami_name with a bad character", func(c *Config) { c.AMIName = "bad:name" }, "ami_name \"bad:name\" is not valid"},
		{"no source", func(c *Config) { c.SourceAMI = "" }, "source_ami or source_ami_filter"},
		{"filter without owners", func(c *Config) {
			c.SourceAMI = ""
			c.SourceAMIFilter = &awsclient.AMIFilter{Filters: map[string]string{"name": "x"}}
		}, "must declare owners"},
		{"no instance_type", func(c *Config) { c.InstanceType = "" }, "instance_type must be set"},
		{"bad ssh_interface", func(c *Config) { c.SSHInterface = "carrier_pigeon" }, "ssh_interface"},
		{"bad shutdown_behavior", func(c *Config) { c.ShutdownBehavior = "hibernate" }, "shutdown_behavior"},
		{"user_data and user_data_file", func(c *Config) { c.UserData, c.UserDataFile = "x", "/etc/hostname" }, "cannot both be set"},
		{"kms_key_id without encrypt_boot", func(c *Config) { c.KMSKeyID = "k" }, "kms_key_id needs encrypt_boot"},
		{"region_kms_key_ids outside ami_regions", func(c *Config) { c.RegionKMSKeyIDs = map[string]string{"eu-west-1": "k"} }, "not in ami_regions"},
		{"bad deprecate_at", func(c *Config) { c.DeprecateAt = "tomorrow" }, "deprecate_at"},
		{"bad CIDR", func(c *Config) { c.TemporarySecurityGroupSourceCIDRs = []string{"10.0.0.0/99"} }, "is not a CIDR"},
		{"subnet_filter most_free and random", func(c *Config) {
			c.SubnetFilter = &SubnetFilterOptions{Filters: map[string]string{"a": "b"}, MostFree: true, Random: true}
		}, "most_free and random"},
		{"ssh_keypair_name without a private key", func(c *Config) { c.SSHKeyPairName = "mine" }, "ssh_keypair_name needs"},
		{"access_key without secret_key", func(c *Config) { c.AccessKey = "AKIA" }, "access_key and secret_key"},
		{"assume_role without role_arn", func(c *Config) { c.AssumeRole = &awsclient.AssumeRoleConfig{} }, "role_arn is required"},
		{"bad imds_support", func(c *Config) { c.IMDSSupport = "v1" }, "imds_support"},
		{"block device without device_name", func(c *Config) { c.LaunchBlockDevices = []BlockDevice{{VolumeSize: 8}} }, "device_name must be set"},
		{"throughput without gp3", func(c *Config) {
			c.LaunchBlockDevices = []BlockDevice{{DeviceName: "/dev/xvda", VolumeType: "gp2", Throughput: 300}}
		}, "throughput needs"},
		{"no ssh_username", func(c *Config) { c.SSHUsername = "" }, "ssh_username"},
		{"an ecdsa key pair", func(c *Config) { c.TemporaryKeyPairType = "ecdsa" }, `"ecdsa" is not valid for amazon-ebs`},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			c := validConfig()
			tt.change(c)
			_, err := c.Prepare()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Prepare = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPrepareFillsPackerDefaultsAndMergesTagBlocks(t *testing.T) {
	c := validConfig()
	c.SecurityGroupID = "sg-1"
	c.SecurityGroupIDs = []string{"sg-2", "sg-1"}
	c.Tags = map[string]string{"a": "1"}
	c.Tag = []KeyValue{{Key: "b", Value: "2"}}
	c.RunTag = []KeyValue{{Key: "r", Value: "3"}}
	c.RunVolumeTag = []NameValue{{Name: "v", Value: "4"}}
	c.EnableT2Unlimited = true
	warnings, err := c.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"shutdown_behavior", c.ShutdownBehavior, "stop"},
		{"source CIDRs", strings.Join(c.TemporarySecurityGroupSourceCIDRs, ","), "0.0.0.0/0"},
		{"security groups", strings.Join(c.SecurityGroupIDs, ","), "sg-1,sg-2"},
		{"tags", c.Tags["a"] + c.Tags["b"], "12"},
		{"run_tags", c.RunTags["r"], "3"},
		{"run_volume_tags", c.RunVolumeTags["v"], "4"},
		{"windows_password_timeout", c.WindowsPasswordTimeout, 20 * time.Minute},
		{"unlimited credits", c.EnableUnlimitedCredits, true},
		{"ssh_port", c.SSHPort, 22},
		{"temporary_key_pair_type", c.TemporaryKeyPairType, "rsa"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.want)
		}
	}
	if len(warnings) == 0 || !strings.Contains(strings.Join(warnings, "\n"), "enable_t2_unlimited is deprecated") {
		t.Errorf("warnings = %v, want the enable_t2_unlimited deprecation", warnings)
	}
}

func TestRenderExpandsPackerTemplateExpressions(t *testing.T) {
	now := time.Unix(1700000000, 0)
	data := map[string]string{"SourceAMI": "ami-1", "SourceAMIName": "ubuntu/x", "BuildRegion": "us-east-1"}
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"ami-{{timestamp}}", "ami-1700000000"},
		{"{{ .SourceAMIName }} in {{ .BuildRegion }}", "ubuntu/x in us-east-1"},
		{`{{isotime "2006-01-02"}}`, "2023-11-14"},
		{`{{ clean_resource_name "a:b" }}`, "a-b"},
		{"{{ .Unknown }}", ""},
	}
	for _, tt := range tests {
		got, err := render(tt.in, data, now)
		if err != nil || got != tt.want {
			t.Errorf("render(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := render("{{ nosuchfunc }}", data, now); err == nil {
		t.Error("an unknown function rendered without error")
	}
}

func TestBuilderIsRegisteredWithItsGeneratedKeys(t *testing.T) {
	b, ok := plugin.NewBuilder("amazon-ebs")
	if !ok {
		t.Fatal("amazon-ebs is not registered")
	}
	keys := strings.Join(b.(plugin.GeneratedKeyser).GeneratedKeys(), ",")
	for _, k := range []string{"SourceAMI", "SourceAMIName", "SourceAMIOwner", "BuildRegion"} {
		if !strings.Contains(keys, k) {
			t.Errorf("GeneratedKeys lacks %s", k)
		}
	}
}

// block_duration_minutes: Packer's check (a multiple of 60) stays; a valid
// value is said to be ignored, as EC2 ended spot blocks.
func TestBlockDurationMinutesIsCheckedThenIgnoredWithAWarning(t *testing.T) {
	c := baseConfig(t, "block")
	c.SpotPrice, c.BlockDurationMinutes = "auto", 90
	if _, err := c.Prepare(); err == nil || !strings.Contains(err.Error(), "multiple of 60") {
		t.Errorf("90 minutes: %v", err)
	}
	c = baseConfig(t, "block")
	c.SpotPrice, c.BlockDurationMinutes = "auto", 120
	warnings, err := c.Prepare()
	if err != nil || !strings.Contains(strings.Join(warnings, "\n"), "block_duration_minutes is ignored") {
		t.Errorf("120 minutes: %v, warnings %v", err, warnings)
	}
}
