package amazonebs

import (
	"time"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
)

// Config is the amazon-ebs source block: Packer's access, AMI, run, block
// device and communicator options under Packer's names.
type Config struct {
	awsclient.AccessConfig
	AMIConfig
	RunConfig
	communicator.Config

	SkipCreateAMI          bool              `hcl:"skip_create_ami,optional"`
	SkipAMIRunTags         bool              `hcl:"skip_ami_run_tags,optional"`
	AMIBlockDeviceMappings []BlockDevice     `hcl:"ami_block_device_mappings,block"`
	LaunchBlockDevices     []BlockDevice     `hcl:"launch_block_device_mappings,block"`
	RunVolumeTags          map[string]string `hcl:"run_volume_tags,optional"`
	RunVolumeTag           []NameValue       `hcl:"run_volume_tag,block"`
	NoEphemeral            bool              `hcl:"no_ephemeral,optional"`
	FastLaunch             *FastLaunchConfig `hcl:"fast_launch,block"`
}

// AMIConfig is what the resulting AMI looks like and where it goes.
type AMIConfig struct {
	AMIName                     string                    `hcl:"ami_name,optional"`
	AMIDescription              string                    `hcl:"ami_description,optional"`
	AMIVirtualizationType       string                    `hcl:"ami_virtualization_type,optional"`
	AMIUsers                    []string                  `hcl:"ami_users,optional"`
	AMIGroups                   []string                  `hcl:"ami_groups,optional"`
	AMIOrgARNs                  []string                  `hcl:"ami_org_arns,optional"`
	AMIOuARNs                   []string                  `hcl:"ami_ou_arns,optional"`
	AMIProductCodes             []string                  `hcl:"ami_product_codes,optional"`
	AMIRegions                  []string                  `hcl:"ami_regions,optional"`
	SnapshotCopyDurationMinutes int64                     `hcl:"snapshot_copy_duration_minutes,optional"`
	Tags                        map[string]string         `hcl:"tags,optional"`
	Tag                         []KeyValue                `hcl:"tag,block"`
	ENASupport                  *bool                     `hcl:"ena_support,optional"`
	SriovSupport                bool                      `hcl:"sriov_support,optional"`
	ForceDeregister             bool                      `hcl:"force_deregister,optional"`
	ForceDeleteSnapshot         bool                      `hcl:"force_delete_snapshot,optional"`
	EncryptBoot                 *bool                     `hcl:"encrypt_boot,optional"`
	KMSKeyID                    string                    `hcl:"kms_key_id,optional"`
	RegionKMSKeyIDs             map[string]string         `hcl:"region_kms_key_ids,optional"`
	SkipSaveBuildRegion         bool                      `hcl:"skip_save_build_region,optional"`
	IMDSSupport                 string                    `hcl:"imds_support,optional"`
	DeprecateAt                 string                    `hcl:"deprecate_at,optional"`
	SnapshotTags                map[string]string         `hcl:"snapshot_tags,optional"`
	SnapshotTag                 []KeyValue                `hcl:"snapshot_tag,block"`
	SnapshotUsers               []string                  `hcl:"snapshot_users,optional"`
	SnapshotGroups              []string                  `hcl:"snapshot_groups,optional"`
	DeregistrationProtection    *DeregistrationProtection `hcl:"deregistration_protection,block"`
	BootMode                    string                    `hcl:"boot_mode,optional"`
	TPMSupport                  string                    `hcl:"tpm_support,optional"`
	UEFIData                    string                    `hcl:"uefi_data,optional"`
}

// RunConfig is how the build instance is launched.
type RunConfig struct {
	AssociatePublicIPAddress             *bool                  `hcl:"associate_public_ip_address,optional"`
	ElasticIPAllocationID                string                 `hcl:"elastic_ip_allocation_id,optional"`
	AvailabilityZone                     string                 `hcl:"availability_zone,optional"`
	BlockDurationMinutes                 int64                  `hcl:"block_duration_minutes,optional"`
	CapacityReservationPreference        string                 `hcl:"capacity_reservation_preference,optional"`
	CapacityReservationID                string                 `hcl:"capacity_reservation_id,optional"`
	CapacityReservationGroupARN          string                 `hcl:"capacity_reservation_group_arn,optional"`
	DisableStopInstance                  bool                   `hcl:"disable_stop_instance,optional"`
	EBSOptimized                         bool                   `hcl:"ebs_optimized,optional"`
	EnableNitroEnclave                   bool                   `hcl:"enable_nitro_enclave,optional"`
	EnableT2Unlimited                    bool                   `hcl:"enable_t2_unlimited,optional"`
	EnableUnlimitedCredits               bool                   `hcl:"enable_unlimited_credits,optional"`
	IAMInstanceProfile                   string                 `hcl:"iam_instance_profile,optional"`
	FleetTags                            map[string]string      `hcl:"fleet_tags,optional"`
	FleetTag                             []KeyValue             `hcl:"fleet_tag,block"`
	SkipProfileValidation                bool                   `hcl:"skip_profile_validation,optional"`
	TemporaryIAMInstanceProfilePolicyDoc *PolicyDocument        `hcl:"temporary_iam_instance_profile_policy_document,block"`
	ShutdownBehavior                     string                 `hcl:"shutdown_behavior,optional"`
	InstanceType                         string                 `hcl:"instance_type,optional"`
	SecurityGroupFilter                  *FilterOptions         `hcl:"security_group_filter,block"`
	RunTags                              map[string]string      `hcl:"run_tags,optional"`
	RunTag                               []KeyValue             `hcl:"run_tag,block"`
	SecurityGroupID                      string                 `hcl:"security_group_id,optional"`
	SecurityGroupIDs                     []string               `hcl:"security_group_ids,optional"`
	SourceAMI                            string                 `hcl:"source_ami,optional"`
	SourceAMIFilter                      *awsclient.AMIFilter   `hcl:"source_ami_filter,block"`
	SpotAllocationStrategy               string                 `hcl:"spot_allocation_strategy,optional"`
	SpotInstanceTypes                    []string               `hcl:"spot_instance_types,optional"`
	SpotPrice                            string                 `hcl:"spot_price,optional"`
	SpotPriceAutoProduct                 string                 `hcl:"spot_price_auto_product,optional"`
	SpotTags                             map[string]string      `hcl:"spot_tags,optional"`
	SpotTag                              []KeyValue             `hcl:"spot_tag,block"`
	SubnetFilter                         *SubnetFilterOptions   `hcl:"subnet_filter,block"`
	SubnetID                             string                 `hcl:"subnet_id,optional"`
	LicenseSpecifications                []LicenseSpecification `hcl:"license_specifications,block"`
	Placement                            *Placement             `hcl:"placement,block"`
	Tenancy                              string                 `hcl:"tenancy,optional"`
	TemporarySecurityGroupSourceCIDRs    []string               `hcl:"temporary_security_group_source_cidrs,optional"`
	TemporarySecurityGroupSourcePublicIP bool                   `hcl:"temporary_security_group_source_public_ip,optional"`
	UserData                             string                 `hcl:"user_data,optional"`
	UserDataFile                         string                 `hcl:"user_data_file,optional"`
	VPCFilter                            *FilterOptions         `hcl:"vpc_filter,block"`
	VPCID                                string                 `hcl:"vpc_id,optional"`
	WindowsPasswordTimeout               time.Duration          `hcl:"windows_password_timeout,optional"`
	Metadata                             *MetadataOptions       `hcl:"metadata_options,block"`
	SSHInterface                         string                 `hcl:"ssh_interface,optional"`
	PauseBeforeSSM                       time.Duration          `hcl:"pause_before_ssm,optional"`
	SessionManagerPort                   int                    `hcl:"session_manager_port,optional"`
}

// BlockDevice is one launch_block_device_mappings or
// ami_block_device_mappings block.
type BlockDevice struct {
	DeleteOnTermination bool   `hcl:"delete_on_termination,optional"`
	DeviceName          string `hcl:"device_name,optional"`
	Encrypted           *bool  `hcl:"encrypted,optional"`
	IOPS                int32  `hcl:"iops,optional"`
	NoDevice            bool   `hcl:"no_device,optional"`
	SnapshotID          string `hcl:"snapshot_id,optional"`
	Throughput          int32  `hcl:"throughput,optional"`
	VirtualName         string `hcl:"virtual_name,optional"`
	VolumeType          string `hcl:"volume_type,optional"`
	VolumeSize          int32  `hcl:"volume_size,optional"`
	KMSKeyID            string `hcl:"kms_key_id,optional"`
}

// KeyValue is a `tag { key = ... value = ... }` block.
type KeyValue struct {
	Key   string `hcl:"key"`
	Value string `hcl:"value"`
}

// NameValue is a `run_volume_tag { name = ... value = ... }` block.
type NameValue struct {
	Name  string `hcl:"name"`
	Value string `hcl:"value"`
}

// FilterOptions is a vpc_filter or security_group_filter block.
type FilterOptions struct {
	Filters map[string]string `hcl:"filters,optional"`
}

// SubnetFilterOptions is the subnet_filter block.
type SubnetFilterOptions struct {
	Filters  map[string]string `hcl:"filters,optional"`
	MostFree bool              `hcl:"most_free,optional"`
	Random   bool              `hcl:"random,optional"`
}

// MetadataOptions is the metadata_options block (IMDS settings).
type MetadataOptions struct {
	HTTPEndpoint            string `hcl:"http_endpoint,optional"`
	HTTPTokens              string `hcl:"http_tokens,optional"`
	HTTPPutResponseHopLimit int32  `hcl:"http_put_response_hop_limit,optional"`
	InstanceMetadataTags    string `hcl:"instance_metadata_tags,optional"`
}

// PolicyDocument is temporary_iam_instance_profile_policy_document, with
// IAM's capitalised names.
type PolicyDocument struct {
	Version   string      `hcl:"Version,optional"`
	Statement []Statement `hcl:"Statement,block"`
}

// Statement is one Statement block of a PolicyDocument.
type Statement struct {
	Effect   string   `hcl:"Effect,optional"`
	Action   []string `hcl:"Action,optional"`
	Resource []string `hcl:"Resource,optional"`
}

// LicenseSpecification is a license_specifications block.
type LicenseSpecification struct {
	LicenseConfigurationRequest *LicenseConfigurationRequest `hcl:"license_configuration_request,block"`
}

// LicenseConfigurationRequest names a license configuration.
type LicenseConfigurationRequest struct {
	LicenseConfigurationARN string `hcl:"license_configuration_arn,optional"`
}

// Placement is the placement block.
type Placement struct {
	HostResourceGroupARN string `hcl:"host_resource_group_arn,optional"`
	HostID               string `hcl:"host_id,optional"`
	Tenancy              string `hcl:"tenancy,optional"`
}

// DeregistrationProtection is the deregistration_protection block.
type DeregistrationProtection struct {
	Enabled      bool `hcl:"enabled,optional"`
	WithCooldown bool `hcl:"with_cooldown,optional"`
}

// FastLaunchConfig is the fast_launch block (Windows AMIs only).
type FastLaunchConfig struct {
	UseFastLaunch         bool                 `hcl:"enable_fast_launch,optional"`
	LaunchTemplateID      string               `hcl:"template_id,optional"`
	LaunchTemplateName    string               `hcl:"template_name,optional"`
	LaunchTemplateVersion int                  `hcl:"template_version,optional"`
	RegionLaunchTemplates []FastLaunchTemplate `hcl:"region_launch_templates,block"`
	MaxParallelLaunches   int                  `hcl:"max_parallel_launches,optional"`
	TargetResourceCount   int                  `hcl:"target_resource_count,optional"`
}

// FastLaunchTemplate is one region_launch_templates block.
type FastLaunchTemplate struct {
	Region                string `hcl:"region"`
	LaunchTemplateID      string `hcl:"template_id,optional"`
	LaunchTemplateName    string `hcl:"template_name,optional"`
	LaunchTemplateVersion int    `hcl:"template_version,optional"`
}
