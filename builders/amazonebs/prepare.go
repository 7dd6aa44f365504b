package amazonebs

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// amiNameRE is what EC2 accepts in an AMI name (3 to 128 characters).
var amiNameRE = regexp.MustCompile(`^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$`)

// Prepare fills Packer's defaults and checks option combinations. It makes
// no AWS call: validate works offline.
func (c *Config) Prepare() (warnings []string, err error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := c.AccessConfig.Prepare(); err != nil {
		errs = append(errs, err)
	}
	cw, cerr := c.Config.Prepare()
	warnings = append(warnings, cw...)
	if cerr != nil {
		errs = append(errs, cerr)
	}
	// EC2 key pairs are RSA or ED25519 only.
	if t := c.TemporaryKeyPairType; cerr == nil && t != "" && t != "rsa" && t != "ed25519" {
		add("temporary_key_pair_type %q is not valid for amazon-ebs: EC2 key pairs are \"rsa\" or \"ed25519\"", t)
	}

	// AMI.
	if c.AMIName == "" && !c.SkipCreateAMI {
		add("ami_name must be set: it names the AMI the build creates")
	} else if c.AMIName != "" && !strings.Contains(c.AMIName, "{{") && !amiNameRE.MatchString(c.AMIName) {
		add("ami_name %q is not valid: use 3 to 128 letters, digits, spaces and ( ) [ ] . / - ' @ _ (clean_resource_name can help)", c.AMIName)
	}
	switch c.AMIVirtualizationType {
	case "", "hvm", "paravirtual":
	default:
		add("ami_virtualization_type %q is not valid: use \"hvm\" or \"paravirtual\"", c.AMIVirtualizationType)
	}
	switch c.IMDSSupport {
	case "", "v2.0":
	default:
		add("imds_support %q is not valid: use \"v2.0\" or leave it unset", c.IMDSSupport)
	}
	switch c.BootMode {
	case "", "legacy-bios", "uefi", "uefi-preferred":
	default:
		add("boot_mode %q is not valid: use \"legacy-bios\", \"uefi\" or \"uefi-preferred\"", c.BootMode)
	}
	switch c.TPMSupport {
	case "", "v2.0":
	default:
		add("tpm_support %q is not valid: use \"v2.0\"", c.TPMSupport)
	}
	if c.DeprecateAt != "" {
		if _, err := time.Parse(time.RFC3339, c.DeprecateAt); err != nil {
			add("deprecate_at %q is not an RFC 3339 time (like 2030-01-02T15:04:05Z)", c.DeprecateAt)
		}
	}
	if c.KMSKeyID != "" && (c.EncryptBoot == nil || !*c.EncryptBoot) {
		add("kms_key_id needs encrypt_boot = true")
	}
	c.AMIRegions = dedupe(c.AMIRegions)
	for r := range c.RegionKMSKeyIDs {
		if !contains(c.AMIRegions, r) {
			add("region_kms_key_ids names %q, which is not in ami_regions", r)
		}
	}
	if c.SnapshotCopyDurationMinutes != 0 && c.SnapshotCopyDurationMinutes < 15 {
		add("snapshot_copy_duration_minutes must be at least 15")
	}
	c.Tags = mergeKV(c.Tags, c.Tag)
	c.SnapshotTags = mergeKV(c.SnapshotTags, c.SnapshotTag)
	c.RunTags = mergeKV(c.RunTags, c.RunTag)
	c.SpotTags = mergeKV(c.SpotTags, c.SpotTag)
	c.FleetTags = mergeKV(c.FleetTags, c.FleetTag)
	for _, nv := range c.RunVolumeTag {
		if c.RunVolumeTags == nil {
			c.RunVolumeTags = map[string]string{}
		}
		c.RunVolumeTags[nv.Name] = nv.Value
	}

	// Source.
	switch {
	case c.SourceAMI == "" && c.SourceAMIFilter == nil:
		add("source_ami or source_ami_filter must be set: it is the AMI the build starts from")
	case c.SourceAMIFilter != nil:
		if c.SourceAMIFilter.Empty() {
			add("source_ami_filter needs filters or owners")
		} else if len(c.SourceAMIFilter.Owners) == 0 {
			add("source_ami_filter must declare owners (anyone can publish an AMI with a given name)")
		}
	}

	// Run.
	if c.InstanceType == "" && len(c.SpotInstanceTypes) == 0 {
		add("instance_type must be set (or spot_instance_types)")
	}
	if c.InstanceType != "" && len(c.SpotInstanceTypes) > 0 {
		add("instance_type and spot_instance_types cannot both be set: choose one")
	}
	if len(c.SpotInstanceTypes) > 0 && c.SpotPrice == "" {
		add("spot_instance_types needs spot_price")
	}
	switch c.SSHInterface {
	case "", "public_ip", "private_ip", "public_dns", "private_dns", "session_manager":
	default:
		add("ssh_interface %q is not valid: use public_ip, private_ip, public_dns, private_dns or session_manager", c.SSHInterface)
	}
	if c.SSHInterface != "" && c.SSHInterface != "session_manager" && c.SSHHost != "" {
		warnings = append(warnings, "ssh_host is set, so ssh_interface is ignored")
	}
	switch c.ShutdownBehavior {
	case "":
		c.ShutdownBehavior = "stop"
	case "stop", "terminate":
	default:
		add("shutdown_behavior %q is not valid: use \"stop\" or \"terminate\"", c.ShutdownBehavior)
	}
	if c.UserData != "" && c.UserDataFile != "" {
		add("user_data and user_data_file cannot both be set: choose one")
	}
	if c.UserDataFile != "" {
		if _, err := os.Stat(c.UserDataFile); err != nil {
			add("user_data_file: %v", err)
		}
	}
	if c.SecurityGroupID != "" {
		c.SecurityGroupIDs = dedupe(append([]string{c.SecurityGroupID}, c.SecurityGroupIDs...))
	}
	if len(c.SecurityGroupIDs) > 0 && c.SecurityGroupFilter != nil {
		add("security_group_ids and security_group_filter cannot both be set: choose one")
	}
	if len(c.TemporarySecurityGroupSourceCIDRs) > 0 && c.TemporarySecurityGroupSourcePublicIP {
		add("temporary_security_group_source_cidrs and temporary_security_group_source_public_ip cannot both be set")
	}
	for _, cidr := range c.TemporarySecurityGroupSourceCIDRs {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			add("temporary_security_group_source_cidrs: %q is not a CIDR (like 203.0.113.0/24)", cidr)
		}
	}
	if len(c.TemporarySecurityGroupSourceCIDRs) == 0 && !c.TemporarySecurityGroupSourcePublicIP {
		c.TemporarySecurityGroupSourceCIDRs = []string{"0.0.0.0/0"}
	}
	if f := c.SubnetFilter; f != nil && f.MostFree && f.Random {
		add("subnet_filter: most_free and random cannot both be true")
	}
	if c.SubnetID != "" && c.SubnetFilter != nil {
		warnings = append(warnings, "subnet_id is set, so subnet_filter is ignored")
	}
	if m := c.Metadata; m != nil {
		switch m.HTTPEndpoint {
		case "", "enabled", "disabled":
		default:
			add("metadata_options.http_endpoint %q is not valid: use \"enabled\" or \"disabled\"", m.HTTPEndpoint)
		}
		switch m.HTTPTokens {
		case "", "optional", "required":
		default:
			add("metadata_options.http_tokens %q is not valid: use \"optional\" or \"required\"", m.HTTPTokens)
		}
		switch m.InstanceMetadataTags {
		case "", "enabled", "disabled":
		default:
			add("metadata_options.instance_metadata_tags %q is not valid: use \"enabled\" or \"disabled\"", m.InstanceMetadataTags)
		}
		if m.HTTPPutResponseHopLimit < 0 || m.HTTPPutResponseHopLimit > 64 {
			add("metadata_options.http_put_response_hop_limit must be 1 to 64")
		}
	}
	if c.EnableT2Unlimited {
		warnings = append(warnings, "enable_t2_unlimited is deprecated: use enable_unlimited_credits")
		c.EnableUnlimitedCredits = true
	}
	if c.EnableUnlimitedCredits && c.SpotPrice != "" {
		add("enable_unlimited_credits cannot be used with spot instances")
	}
	if c.BlockDurationMinutes%60 != 0 {
		add("block_duration_minutes must be a multiple of 60")
	} else if c.BlockDurationMinutes != 0 {
		warnings = append(warnings, "block_duration_minutes is ignored: EC2 no longer offers spot instances of a fixed duration (spot blocks)")
	}
	if c.WindowsPasswordTimeout == 0 {
		c.WindowsPasswordTimeout = 20 * time.Minute
	}
	if c.Type == communicator.TypeSSH && c.SSHKeyPairName != "" && c.SSHPrivateKeyFile == "" && !c.SSHAgentAuth {
		add("ssh_keypair_name needs ssh_private_key_file or ssh_agent_auth (the private half of that key pair)")
	}
	for i, bd := range append(append([]BlockDevice{}, c.LaunchBlockDevices...), c.AMIBlockDeviceMappings...) {
		if bd.DeviceName == "" {
			add("block device mapping %d: device_name must be set", i+1)
		}
		switch bd.VolumeType {
		case "", "standard", "io1", "io2", "gp2", "gp3", "sc1", "st1":
		default:
			add("block device %s: volume_type %q is not valid", bd.DeviceName, bd.VolumeType)
		}
		if bd.Throughput != 0 && bd.VolumeType != "gp3" {
			add("block device %s: throughput needs volume_type = \"gp3\"", bd.DeviceName)
		}
	}
	for _, o := range []struct {
		name string
		set  bool
	}{{"tpm_support", c.TPMSupport != ""}, {"uefi_data", c.UEFIData != ""}} {
		if o.set {
			warnings = append(warnings, o.name+" is accepted but not applied: EC2 sets it only when an AMI is registered from snapshots (RegisterImage), and amazon-ebs creates its AMI from the instance (CreateImage)")
		}
	}
	// Accepted so that templates validate; listed in a fixed order.
	for _, o := range []struct {
		name string
		set  bool
	}{
		{"fast_launch", c.FastLaunch != nil}, {"deregistration_protection", c.DeregistrationProtection != nil},
		{"elastic_ip_allocation_id", c.ElasticIPAllocationID != ""},
	} {
		if o.set {
			warnings = append(warnings, o.name+" is accepted but not applied by imgbuild's amazon-ebs yet")
		}
	}
	if c.SSHInterface == "session_manager" {
		warnings = append(warnings, "ssh_interface = \"session_manager\" is accepted for validation, but imgbuild cannot connect through SSM yet: a build will fail")
	}
	return warnings, errors.Join(errs...)
}

func mergeKV(m map[string]string, kvs []KeyValue) map[string]string {
	if len(kvs) == 0 {
		return m
	}
	if m == nil {
		m = map[string]string{}
	}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	out := xs[:0:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
