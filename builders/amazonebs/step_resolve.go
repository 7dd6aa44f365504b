package amazonebs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// stepResolve checks everything that can be checked before anything is
// created: credentials, regions, the source AMI, the instance type, the
// AMI name, and the network filters. Sets awsCfg, ec2, region, source,
// amiName, amiDesc, subnetID, vpcID, az, sgIDs and generated.
func stepResolve(ctx context.Context, s *state) (steps.Cleanup, error) {
	c := s.cfg
	if err := unsupported(c); err != nil {
		return nil, err
	}
	// Asked first: when it fails, nothing at all has been done.
	if c.TemporarySecurityGroupSourcePublicIP && len(c.SecurityGroupIDs) == 0 && c.SecurityGroupFilter == nil {
		url := s.checkIPURL
		if url == "" {
			url = defaultCheckIPURL
		}
		cidr, err := publicIP(ctx, url)
		if err != nil {
			return nil, err
		}
		s.sourceCIDR = cidr
	}
	cfg, err := c.AccessConfig.Load(ctx, "")
	if err != nil {
		return nil, err
	}
	s.awsCfg, s.region, s.ec2 = cfg, cfg.Region, c.AccessConfig.EC2(cfg)
	s.say("Checking AWS credentials and region %s...", s.region)
	if err := c.AccessConfig.Validate(ctx, cfg, s.ec2, c.AMIRegions...); err != nil {
		return nil, err
	}

	if err := s.resolveSource(ctx); err != nil {
		return nil, err
	}
	if err := s.checkBootMode(); err != nil {
		return nil, err
	}
	if err := s.checkInstanceTypes(ctx); err != nil {
		return nil, err
	}

	s.generated = plugin.GeneratedData{
		"BuildRegion":           s.region,
		"SourceAMI":             aws.ToString(s.source.ImageId),
		"SourceAMIName":         aws.ToString(s.source.Name),
		"SourceAMIDescription":  aws.ToString(s.source.Description),
		"SourceAMICreationDate": aws.ToString(s.source.CreationDate),
		"SourceAMIOwner":        aws.ToString(s.source.OwnerId),
		"SourceAMIOwnerName":    aws.ToString(s.source.ImageOwnerAlias),
		"SourceImageName":       aws.ToString(s.source.Name),
		"PackerRunUUID":         s.runID,
		"ConnType":              c.Type,
		"User":                  c.SSHUsername,
		"BuildName":             s.env.Name,
	}
	if s.amiName, err = render(c.AMIName, s.generated, s.now); err != nil {
		return nil, fmt.Errorf("ami_name: %w", err)
	}
	if s.amiDesc, err = render(c.AMIDescription, s.generated, s.now); err != nil {
		return nil, fmt.Errorf("ami_description: %w", err)
	}
	if !c.SkipCreateAMI {
		if !amiNameRE.MatchString(s.amiName) {
			return nil, fmt.Errorf("ami_name %q is not valid: use 3 to 128 letters, digits, spaces and ( ) [ ] . / - ' @ _", s.amiName)
		}
		if err := s.checkExistingAMI(ctx); err != nil {
			return nil, err
		}
	}
	return nil, s.resolveNetwork(ctx)
}

func (s *state) resolveSource(ctx context.Context) error {
	c := s.cfg
	if c.SourceAMIFilter != nil && c.SourceAMI == "" {
		img, err := c.SourceAMIFilter.Find(ctx, s.ec2)
		if err != nil {
			return fmt.Errorf("source_ami_filter in %s: %w", s.region, err)
		}
		s.source = img
	} else {
		out, err := s.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{c.SourceAMI}})
		if err != nil && !awsclient.IsNotFound(err) {
			return fmt.Errorf("looking up source_ami %s: %w", c.SourceAMI, awsclient.Explain(err))
		}
		if err != nil || len(out.Images) == 0 {
			return fmt.Errorf("source_ami %s does not exist in %s (or is not shared with this account): check the id and the region", c.SourceAMI, s.region)
		}
		s.source = out.Images[0]
	}
	s.say("Source AMI: %s (%s)", aws.ToString(s.source.ImageId), aws.ToString(s.source.Name))
	return nil
}

func (s *state) checkInstanceTypes(ctx context.Context) error {
	want := s.cfg.SpotInstanceTypes
	if s.cfg.InstanceType != "" {
		want = []string{s.cfg.InstanceType}
	}
	for _, it := range want {
		_, err := s.ec2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{types.InstanceType(it)}})
		if awsclient.Code(err) == "InvalidInstanceType" {
			return fmt.Errorf("instance_type %q does not exist in %s: check the spelling (for example t3.micro) and that the region offers it", it, s.region)
		}
		// Other failures (an emulator without the call, a missing
		// permission) are not worth failing the build for: RunInstances
		// will say.
	}
	return nil
}

// checkExistingAMI fails before anything is launched when an AMI of the
// same name exists and the user did not ask to replace it.
func (s *state) checkExistingAMI(ctx context.Context) error {
	images, err := s.ownImagesNamedLikeOurs(ctx, s.ec2)
	if err != nil {
		return fmt.Errorf("looking for an existing AMI named %q: %w", s.amiName, awsclient.Explain(err))
	}
	if len(images) == 0 {
		return nil
	}
	if !s.cfg.ForceDeregister && !s.env.Force {
		return fmt.Errorf("an AMI named %q already exists in %s (%s): set force_deregister = true (or run with -force) to replace it, or change ami_name",
			s.amiName, s.region, aws.ToString(images[0].ImageId))
	}
	s.say("AMI %s named %q will be replaced (force_deregister)", aws.ToString(images[0].ImageId), s.amiName)
	return nil
}

func filters(m map[string]string) []types.Filter {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]types.Filter, 0, len(m))
	for _, k := range keys {
		out = append(out, types.Filter{Name: aws.String(k), Values: []string{m[k]}})
	}
	return out
}

// resolveNetwork turns vpc_filter, subnet_filter and security_group_filter
// into ids; a filter that matches nothing is an error now, not later.
func (s *state) resolveNetwork(ctx context.Context) error {
	c := s.cfg
	s.vpcID, s.subnetID, s.az = c.VPCID, c.SubnetID, c.AvailabilityZone
	if s.vpcID == "" && c.VPCFilter != nil && len(c.VPCFilter.Filters) > 0 {
		out, err := s.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: filters(c.VPCFilter.Filters)})
		if err != nil {
			return fmt.Errorf("vpc_filter: %w", awsclient.Explain(err))
		}
		if len(out.Vpcs) != 1 {
			return fmt.Errorf("vpc_filter matched %d VPCs in %s: it must match exactly one", len(out.Vpcs), s.region)
		}
		s.vpcID = aws.ToString(out.Vpcs[0].VpcId)
	}
	if s.subnetID == "" && c.SubnetFilter != nil && len(c.SubnetFilter.Filters) > 0 {
		f := filters(c.SubnetFilter.Filters)
		if s.vpcID != "" {
			f = append(f, types.Filter{Name: aws.String("vpc-id"), Values: []string{s.vpcID}})
		}
		if s.az != "" {
			f = append(f, types.Filter{Name: aws.String("availability-zone"), Values: []string{s.az}})
		}
		out, err := s.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: f})
		if err != nil {
			return fmt.Errorf("subnet_filter: %w", awsclient.Explain(err))
		}
		subnets := out.Subnets
		switch {
		case len(subnets) == 0:
			return fmt.Errorf("subnet_filter matched no subnet in %s: check the filters", s.region)
		case len(subnets) > 1 && c.SubnetFilter.Random:
			subnets = []types.Subnet{subnets[rand.IntN(len(subnets))]}
		case len(subnets) > 1 && c.SubnetFilter.MostFree:
			sort.SliceStable(subnets, func(i, j int) bool {
				return aws.ToInt32(subnets[i].AvailableIpAddressCount) > aws.ToInt32(subnets[j].AvailableIpAddressCount)
			})
		case len(subnets) > 1:
			return fmt.Errorf("subnet_filter matched %d subnets: set most_free or random, or narrow the filters", len(subnets))
		}
		s.subnetID = aws.ToString(subnets[0].SubnetId)
	}
	if s.subnetID != "" {
		out, err := s.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{s.subnetID}})
		if err != nil {
			return fmt.Errorf("subnet %s: %w", s.subnetID, awsclient.Explain(err))
		}
		if len(out.Subnets) == 0 {
			return fmt.Errorf("subnet %s does not exist in %s", s.subnetID, s.region)
		}
		s.vpcID, s.az = aws.ToString(out.Subnets[0].VpcId), aws.ToString(out.Subnets[0].AvailabilityZone)
	}
	s.sgIDs = c.SecurityGroupIDs
	if len(s.sgIDs) == 0 && c.SecurityGroupFilter != nil && len(c.SecurityGroupFilter.Filters) > 0 {
		f := filters(c.SecurityGroupFilter.Filters)
		if s.vpcID != "" {
			f = append(f, types.Filter{Name: aws.String("vpc-id"), Values: []string{s.vpcID}})
		}
		out, err := s.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: f})
		if err != nil {
			return fmt.Errorf("security_group_filter: %w", awsclient.Explain(err))
		}
		if len(out.SecurityGroups) == 0 {
			return errors.New("security_group_filter matched no security group: check the filters")
		}
		for _, g := range out.SecurityGroups {
			s.sgIDs = append(s.sgIDs, aws.ToString(g.GroupId))
		}
	}
	return nil
}

// unsupported refuses, before any AWS call, the options imgbuild accepts
// for validation but cannot honour in a build.
func unsupported(c *Config) error {
	switch {
	case c.SSHInterface == "session_manager":
		return errors.New(`ssh_interface = "session_manager" is not supported by imgbuild yet: use public_ip or private_ip (with a bastion if needed)`)
	case c.VaultAWSEngine != nil && c.VaultAWSEngine.Name != "":
		return errors.New("vault_aws_engine is not supported by imgbuild: export the credentials Vault issues as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN")
	case c.Type == "winrm":
		return errors.New(`communicator = "winrm" is not supported by imgbuild: use ssh`)
	}
	return nil
}
