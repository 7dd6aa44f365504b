// Package awsclient holds what the amazon-ebs builder, the amazon-ami data
// source and the aws_secretsmanager function share: Packer's access
// configuration (credentials, region, endpoints, retries), client
// construction on aws-sdk-go-v2, AMI filters, and the retry of AWS's
// eventual-consistency errors.
package awsclient

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// AccessConfig is Packer's amazon access configuration, shared by the
// builder and the data source.
type AccessConfig struct {
	AccessKey                   string            `hcl:"access_key,optional"`
	SecretKey                   string            `hcl:"secret_key,optional"`
	Token                       string            `hcl:"token,optional"`
	Region                      string            `hcl:"region,optional"`
	Profile                     string            `hcl:"profile,optional"`
	SharedCredentialsFile       string            `hcl:"shared_credentials_file,optional"`
	AssumeRole                  *AssumeRoleConfig `hcl:"assume_role,block"`
	CustomEndpointEC2           string            `hcl:"custom_endpoint_ec2,optional"`
	DecodeAuthorizationMessages bool              `hcl:"decode_authorization_messages,optional"`
	InsecureSkipTLSVerify       bool              `hcl:"insecure_skip_tls_verify,optional"`
	MaxRetries                  int               `hcl:"max_retries,optional"`
	MFACode                     string            `hcl:"mfa_code,optional"`
	SkipMetadataAPICheck        bool              `hcl:"skip_metadata_api_check,optional"`
	SkipCredentialValidation    bool              `hcl:"skip_credential_validation,optional"`
	SkipRegionValidation        bool              `hcl:"skip_region_validation,optional"`
	VaultAWSEngine              *VaultAWSEngine   `hcl:"vault_aws_engine,block"`
	Polling                     *PollingConfig    `hcl:"aws_polling,block"`
}

// AssumeRoleConfig is the assume_role block.
type AssumeRoleConfig struct {
	RoleARN           string            `hcl:"role_arn,optional"`
	DurationSeconds   int               `hcl:"duration_seconds,optional"`
	ExternalID        string            `hcl:"external_id,optional"`
	Policy            string            `hcl:"policy,optional"`
	PolicyARNs        []string          `hcl:"policy_arns,optional"`
	SessionName       string            `hcl:"session_name,optional"`
	Tags              map[string]string `hcl:"tags,optional"`
	TransitiveTagKeys []string          `hcl:"transitive_tag_keys,optional"`
}

// VaultAWSEngine is the vault_aws_engine block. imgbuild accepts it so that
// templates validate, but cannot fetch credentials from Vault.
type VaultAWSEngine struct {
	Name       string `hcl:"name,optional"`
	RoleARN    string `hcl:"role_arn,optional"`
	TTL        string `hcl:"ttl,optional"`
	EngineName string `hcl:"engine_name,optional"`
}

// PollingConfig is the aws_polling block: how often and how long waits
// poll AWS.
type PollingConfig struct {
	DelaySeconds int `hcl:"delay_seconds,optional"`
	MaxAttempts  int `hcl:"max_attempts,optional"`
}

// Prepare checks the access configuration. It makes no AWS call, so that
// validate works offline.
func (c *AccessConfig) Prepare() error {
	var errs []error
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("access_key and secret_key must be set together (or neither, to use the standard credential chain)"))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, errors.New("max_retries must not be negative"))
	}
	if c.AssumeRole != nil && c.AssumeRole.RoleARN == "" {
		errs = append(errs, errors.New("assume_role: role_arn is required"))
	}
	if c.VaultAWSEngine != nil && c.VaultAWSEngine.Name != "" && (c.AccessKey != "" || c.Profile != "") {
		errs = append(errs, errors.New("vault_aws_engine cannot be combined with access_key or profile"))
	}
	if p := c.Polling; p != nil && (p.DelaySeconds < 0 || p.MaxAttempts < 0) {
		errs = append(errs, errors.New("aws_polling: delay_seconds and max_attempts must not be negative"))
	}
	return errors.Join(errs...)
}

// ResolvedRegion is the configured region, else the one in the environment
// (AWS_REGION, AWS_DEFAULT_REGION). An empty result means the SDK's
// shared config decides.
func (c *AccessConfig) ResolvedRegion() string {
	if c.Region != "" {
		return c.Region
	}
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// WaitParams returns the delay between polls and the overall bound of a
// wait, from aws_polling or the AWS_POLL_* variables Packer reads, else
// the given default.
func (c *AccessConfig) WaitParams(def time.Duration) (delay, max time.Duration) {
	delay = 2 * time.Second
	attempts := 0
	if c.Polling != nil {
		if c.Polling.DelaySeconds > 0 {
			delay = time.Duration(c.Polling.DelaySeconds) * time.Second
		}
		attempts = c.Polling.MaxAttempts
	}
	if v := os.Getenv("AWS_POLL_DELAY_SECONDS"); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil && n > 0 {
			delay = time.Duration(n) * time.Second
		}
	}
	if v := os.Getenv("AWS_MAX_ATTEMPTS"); v != "" && attempts == 0 {
		fmt.Sscan(v, &attempts)
	}
	if attempts > 0 {
		return delay, time.Duration(attempts) * delay
	}
	return delay, def
}
