package awsclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// Load builds an aws.Config for region (the configured region when
// empty) from the access configuration and the standard chain: explicit
// keys, profile, environment, shared files, IMDS (unless
// skip_metadata_api_check). AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
// are honoured by the SDK as in the AWS CLI.
func (c *AccessConfig) Load(ctx context.Context, region string) (aws.Config, error) {
	secret.Add(c.SecretKey, c.Token)
	if region == "" {
		region = c.ResolvedRegion()
	}
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.SharedCredentialsFile != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{c.SharedCredentialsFile}))
	}
	if c.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, c.Token)))
	}
	opts = append(opts, config.WithRetryer(newRetryer(c.MaxRetries)))
	if c.SkipMetadataAPICheck {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	if c.InsecureSkipTLSVerify {
		opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for it
		})))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		var pe config.SharedConfigProfileNotExistError
		if errors.As(err, &pe) {
			return aws.Config{}, fmt.Errorf("AWS profile %q does not exist: check profile (or AWS_PROFILE) against ~/.aws/config and ~/.aws/credentials", pe.Profile)
		}
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: set region in the template, or AWS_REGION in the environment")
	}
	if ar := c.AssumeRole; ar != nil && ar.RoleARN != "" {
		stsClient := sts.NewFromConfig(cfg)
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, ar.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			if ar.SessionName != "" {
				o.RoleSessionName = ar.SessionName
			}
			if ar.ExternalID != "" {
				o.ExternalID = aws.String(ar.ExternalID)
			}
			if ar.Policy != "" {
				o.Policy = aws.String(ar.Policy)
			}
			if ar.DurationSeconds > 0 {
				o.Duration = secondsDuration(ar.DurationSeconds)
			}
			for _, arn := range ar.PolicyARNs {
				o.PolicyARNs = append(o.PolicyARNs, ststypesPolicy(arn))
			}
			for k, v := range ar.Tags {
				o.Tags = append(o.Tags, ststypesTag(k, v))
			}
			o.TransitiveTagKeys = ar.TransitiveTagKeys
		}))
	}
	return cfg, nil
}

// EC2 returns an EC2 client for cfg, using custom_endpoint_ec2 when set.
func (c *AccessConfig) EC2(cfg aws.Config) *ec2.Client {
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if ep := c.endpointEC2(); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
}

func (c *AccessConfig) endpointEC2() string {
	ep := c.CustomEndpointEC2
	if ep != "" && !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	return ep
}

// Validate checks, before anything is created, that the credentials work
// (sts GetCallerIdentity, unless skip_credential_validation) and that the
// region exists (unless skip_region_validation). Each failure is one line
// that says what to do.
func (c *AccessConfig) Validate(ctx context.Context, cfg aws.Config, ec2c *ec2.Client, extraRegions ...string) error {
	if !c.SkipRegionValidation {
		if err := c.validateRegions(ctx, cfg, ec2c, extraRegions); err != nil {
			return err
		}
	}
	if !c.SkipCredentialValidation {
		if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			return fmt.Errorf("checking AWS credentials: %w", Explain(err))
		}
	}
	return nil
}

func (c *AccessConfig) validateRegions(ctx context.Context, cfg aws.Config, ec2c *ec2.Client, extra []string) error {
	in := &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)}
	// One attempt first: a mistyped region has no endpoint, and retrying
	// a name that does not resolve only makes the user wait.
	once := func(o *ec2.Options) { o.RetryMaxAttempts = 1 }
	out, err := ec2c.DescribeRegions(ctx, in, once)
	if err != nil {
		if isAuth(err) {
			return fmt.Errorf("checking AWS credentials: %w", Explain(err))
		}
		// Ask a region that surely exists for the list, to tell an
		// unknown region from a passing failure.
		alt := cfg.Copy()
		alt.Region = "us-east-1"
		var aerr error
		out, aerr = c.EC2(alt).DescribeRegions(ctx, in)
		if aerr != nil {
			return fmt.Errorf("listing AWS regions from %s: %w", cfg.Region, Explain(err))
		}
	}
	known := map[string]bool{}
	for _, r := range out.Regions {
		known[aws.ToString(r.RegionName)] = true
	}
	for _, r := range append([]string{cfg.Region}, extra...) {
		if !known[r] {
			return fmt.Errorf("unknown AWS region %q: use a region that `aws ec2 describe-regions` lists (for example us-east-1), or set skip_region_validation = true for a private region", r)
		}
	}
	if err != nil {
		// The region exists, so the first failure may have been a dropped
		// connection: ask it again, with the usual retries.
		if _, err := ec2c.DescribeRegions(ctx, in); err != nil {
			return fmt.Errorf("listing AWS regions from %s: %w", cfg.Region, Explain(err))
		}
	}
	return nil
}
