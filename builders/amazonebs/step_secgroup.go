package amazonebs

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// stepSecurityGroup makes a temporary security group that lets SSH in,
// unless the template names groups. Sets sgIDs.
func stepSecurityGroup(ctx context.Context, s *state) (steps.Cleanup, error) {
	c := s.cfg
	if len(s.sgIDs) > 0 {
		return nil, nil
	}
	name := "packer_" + uuid.NewString()
	in := &ec2.CreateSecurityGroupInput{
		GroupName:         aws.String(name),
		Description:       aws.String("Temporary group for imgbuild " + s.env.Name),
		TagSpecifications: []types.TagSpecification{tagSpec(types.ResourceTypeSecurityGroup, s.runTags())},
	}
	if s.vpcID != "" {
		in.VpcId = aws.String(s.vpcID)
	}
	s.say("Creating temporary security group %s...", name)
	id, err := s.createSecurityGroup(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("creating security group: %w", awsclient.Explain(err))
	}
	cleanup := func(ctx context.Context) error {
		s.say("Deleting temporary security group %s...", id)
		// The instance may still be shutting down: DependencyViolation.
		_, err := s.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)},
			awsclient.RetryOn(3*time.Minute, "DependencyViolation"))
		if err != nil && !awsclient.IsNotFound(err) {
			return fmt.Errorf("deleting security group %s: %w", id, err)
		}
		s.forget(awsclient.KindSecurityGroup, id, s.region)
		return nil
	}
	if err := s.record(awsclient.KindSecurityGroup, id, s.region); err != nil {
		return cleanup, err
	}
	s.sgIDs = []string{id}
	if c.Type == communicator.TypeNone {
		return cleanup, nil
	}
	cidrs := c.TemporarySecurityGroupSourceCIDRs
	if s.sourceCIDR != "" {
		cidrs = []string{s.sourceCIDR}
	}
	perm := types.IpPermission{
		IpProtocol: aws.String("tcp"),
		FromPort:   aws.Int32(int32(c.SSHPort)),
		ToPort:     aws.Int32(int32(c.SSHPort)),
	}
	for _, cidr := range cidrs {
		perm.IpRanges = append(perm.IpRanges, types.IpRange{CidrIp: aws.String(cidr)})
	}
	_, err = s.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(id), IpPermissions: []types.IpPermission{perm},
	}, awsclient.RetryOn(2*time.Minute, awsclient.GroupNotYetVisible))
	// The SDK retries a call whose answer was lost; the rule may already
	// be there from the first try.
	if err != nil && awsclient.Code(err) != "InvalidPermission.Duplicate" {
		return cleanup, fmt.Errorf("allowing SSH into security group %s: %w", id, awsclient.Explain(err))
	}
	return cleanup, nil
}

// createSecurityGroup creates the group; when the SDK retried a call whose
// answer was lost, the group already exists under our (unique) name, and
// its id is looked up.
func (s *state) createSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput) (string, error) {
	out, err := s.ec2.CreateSecurityGroup(ctx, in)
	if err == nil {
		return aws.ToString(out.GroupId), nil
	}
	if awsclient.Code(err) != "InvalidGroup.Duplicate" {
		return "", err
	}
	f := []types.Filter{
		{Name: aws.String("group-name"), Values: []string{aws.ToString(in.GroupName)}},
		s.buildFilter(),
	}
	found, derr := s.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: f})
	if derr != nil || len(found.SecurityGroups) != 1 {
		return "", err
	}
	return aws.ToString(found.SecurityGroups[0].GroupId), nil
}
