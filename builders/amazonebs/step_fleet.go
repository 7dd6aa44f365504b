package amazonebs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// launchSpot launches a spot instance as Packer does: a temporary launch
// template holding the launch options, and an instant EC2 Fleet of one
// spot instance over it, one override per spot_instance_types entry, so
// that EC2 picks among the types by spot_allocation_strategy. It returns
// the instance's id and the cleanup that deletes the launch template (the
// instance has its own). An instant fleet needs no removal of its own.
func (s *state) launchSpot(ctx context.Context, in *ec2.RunInstancesInput) (string, steps.Cleanup, error) {
	c := s.cfg
	spotTags, err := renderMap(c.SpotTags, s.generated, s.now)
	if err != nil {
		return "", nil, fmt.Errorf("spot_tags: %w", err)
	}
	fleetTags, err := renderMap(c.FleetTags, s.generated, s.now)
	if err != nil {
		return "", nil, fmt.Errorf("fleet_tags: %w", err)
	}
	name := "packer-fleet-launch-template-" + uuid.NewString()[:8]
	// Recorded before the call: the name is known, and a crash during the
	// call must not leave an unrecorded template.
	if err := s.record(awsclient.KindLaunchTemplate, name, s.region); err != nil {
		return "", nil, err
	}
	cleanup := func(ctx context.Context) error {
		s.say("Deleting temporary launch template %s...", name)
		if err := awsclient.DeleteLaunchTemplate(ctx, s.ec2, name); err != nil {
			return err
		}
		s.forget(awsclient.KindLaunchTemplate, name, s.region)
		return nil
	}
	s.say("Creating temporary launch template %s for the spot fleet...", name)
	_, err = s.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: launchTemplateData(in),
		VersionDescription: aws.String("imgbuild " + s.env.Name + ": spot instance launch"),
		ClientToken:        aws.String(s.clientToken("launch-template")),
		TagSpecifications:  []types.TagSpecification{tagSpec(types.ResourceTypeLaunchTemplate, tagList(spotTags, s.runTags()...))},
	})
	if err != nil {
		return "", cleanup, fmt.Errorf("creating launch template %s: %w", name, awsclient.Explain(err))
	}
	fleet := &ec2.CreateFleetInput{
		Type:        types.FleetTypeInstant,
		ClientToken: aws.String(s.clientToken("fleet")),
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{
				LaunchTemplateName: aws.String(name), Version: aws.String("1")},
			Overrides: fleetOverrides(c.SpotInstanceTypes),
		}},
		TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity: aws.Int32(1), DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot},
		ReplaceUnhealthyInstances: aws.Bool(false),
		TagSpecifications:         []types.TagSpecification{tagSpec(types.ResourceTypeFleet, tagList(fleetTags, s.runTags()...))},
	}
	if c.SpotAllocationStrategy != "" {
		fleet.SpotOptions = &types.SpotOptionsRequest{AllocationStrategy: types.SpotAllocationStrategy(c.SpotAllocationStrategy)}
	}
	s.say("Launching a spot instance (%s)...", strings.Join(instanceTypes(in, c.SpotInstanceTypes), ", "))
	id, err := s.createFleet(ctx, fleet)
	return id, cleanup, err
}

// createFleet asks for the fleet until it holds an instance: EC2 answers
// a fleet request with per-type errors, and only no instance at all is a
// failure. A profile EC2 does not see yet and a momentary lack of spot
// capacity are retried for about two minutes.
func (s *state) createFleet(ctx context.Context, in *ec2.CreateFleetInput) (string, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for delay := time.Second; ; delay = min(2*delay, 15*time.Second) {
		out, err := s.ec2.CreateFleet(ctx, in)
		if err == nil {
			for _, i := range out.Instances {
				if len(i.InstanceIds) > 0 {
					return i.InstanceIds[0], nil
				}
			}
			err = fleetErrors(out.Errors)
		}
		if !fleetRetryable(err) || time.Now().After(deadline) {
			return "", fmt.Errorf("launching the spot instance: %w (check spot_price, spot_instance_types and the subnet's availability zone)", awsclient.Explain(err))
		}
		select {
		case <-ctx.Done():
			return "", context.Cause(ctx)
		case <-time.After(delay):
		}
		// A new token: the same one would return the failed answer.
		in.ClientToken = aws.String(s.clientToken("fleet-" + uuid.NewString()[:8]))
	}
}

// fleetRetryable reports whether a fleet that launched nothing may launch
// on a later try: the new instance profile is not visible to EC2 yet (a
// call error, or a per-type error that says so in words), or spot capacity
// is short for the moment.
func fleetRetryable(err error) bool {
	msg := err.Error()
	return awsclient.ProfileNotYetUsable(err) || strings.Contains(msg, "Invalid IAM Instance Profile name") ||
		strings.Contains(msg, "InsufficientInstanceCapacity")
}

func fleetErrors(errs []types.CreateFleetError) error {
	if len(errs) == 0 {
		return errors.New("EC2 launched no instance and said nothing")
	}
	var out []error
	for _, e := range errs {
		out = append(out, fmt.Errorf("%s: %s", aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage)))
	}
	return errors.Join(out...)
}

func fleetOverrides(names []string) []types.FleetLaunchTemplateOverridesRequest {
	var out []types.FleetLaunchTemplateOverridesRequest
	for _, t := range names {
		out = append(out, types.FleetLaunchTemplateOverridesRequest{InstanceType: types.InstanceType(t)})
	}
	return out
}

// instanceTypes names the types the fleet may launch, for the log.
func instanceTypes(in *ec2.RunInstancesInput, spot []string) []string {
	if len(spot) > 0 {
		return spot
	}
	return []string{string(in.InstanceType)}
}

// launchTemplateData carries the launch options of in into a launch
// template: the same settings under the launch template API's types. With
// spot_instance_types the fleet's overrides name the type.
func launchTemplateData(in *ec2.RunInstancesInput) *types.RequestLaunchTemplateData {
	d := &types.RequestLaunchTemplateData{
		ImageId:                           in.ImageId,
		KeyName:                           in.KeyName,
		UserData:                          in.UserData,
		EbsOptimized:                      in.EbsOptimized,
		InstanceInitiatedShutdownBehavior: in.InstanceInitiatedShutdownBehavior,
		CreditSpecification:               in.CreditSpecification,
		SecurityGroupIds:                  in.SecurityGroupIds,
	}
	if in.InstanceType != "" {
		d.InstanceType = in.InstanceType
	}
	if p := in.IamInstanceProfile; p != nil {
		d.IamInstanceProfile = &types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: p.Name, Arn: p.Arn}
	}
	if e := in.EnclaveOptions; e != nil {
		d.EnclaveOptions = &types.LaunchTemplateEnclaveOptionsRequest{Enabled: e.Enabled}
	}
	if m := in.InstanceMarketOptions; m != nil && m.SpotOptions != nil {
		d.InstanceMarketOptions = &types.LaunchTemplateInstanceMarketOptionsRequest{
			MarketType:  m.MarketType,
			SpotOptions: &types.LaunchTemplateSpotMarketOptionsRequest{MaxPrice: m.SpotOptions.MaxPrice, BlockDurationMinutes: m.SpotOptions.BlockDurationMinutes},
		}
	}
	for _, b := range in.BlockDeviceMappings {
		r := types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: b.DeviceName, NoDevice: b.NoDevice, VirtualName: b.VirtualName}
		if e := b.Ebs; e != nil {
			r.Ebs = &types.LaunchTemplateEbsBlockDeviceRequest{
				DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted, Iops: e.Iops, KmsKeyId: e.KmsKeyId,
				SnapshotId: e.SnapshotId, Throughput: e.Throughput, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType,
			}
		}
		d.BlockDeviceMappings = append(d.BlockDeviceMappings, r)
	}
	for _, n := range in.NetworkInterfaces {
		d.NetworkInterfaces = append(d.NetworkInterfaces, types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{
			DeviceIndex: n.DeviceIndex, AssociatePublicIpAddress: n.AssociatePublicIpAddress,
			SubnetId: n.SubnetId, Groups: n.Groups, DeleteOnTermination: n.DeleteOnTermination,
		})
	}
	if in.SubnetId != nil && len(d.NetworkInterfaces) == 0 {
		// A launch template names the subnet through a network interface.
		d.NetworkInterfaces = []types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{
			DeviceIndex: aws.Int32(0), SubnetId: in.SubnetId, Groups: in.SecurityGroupIds, DeleteOnTermination: aws.Bool(true),
		}}
		d.SecurityGroupIds = nil
	}
	if p := in.Placement; p != nil {
		d.Placement = &types.LaunchTemplatePlacementRequest{
			AvailabilityZone: p.AvailabilityZone, HostId: p.HostId, HostResourceGroupArn: p.HostResourceGroupArn, Tenancy: p.Tenancy}
	}
	if m := in.MetadataOptions; m != nil {
		d.MetadataOptions = &types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpEndpoint:            types.LaunchTemplateInstanceMetadataEndpointState(m.HttpEndpoint),
			HttpTokens:              types.LaunchTemplateHttpTokensState(m.HttpTokens),
			HttpPutResponseHopLimit: m.HttpPutResponseHopLimit,
			InstanceMetadataTags:    types.LaunchTemplateInstanceMetadataTagsState(m.InstanceMetadataTags),
		}
	}
	for _, l := range in.LicenseSpecifications {
		d.LicenseSpecifications = append(d.LicenseSpecifications, types.LaunchTemplateLicenseConfigurationRequest{LicenseConfigurationArn: l.LicenseConfigurationArn})
	}
	for _, t := range in.TagSpecifications {
		d.TagSpecifications = append(d.TagSpecifications, types.LaunchTemplateTagSpecificationRequest{ResourceType: t.ResourceType, Tags: t.Tags})
	}
	return d
}
