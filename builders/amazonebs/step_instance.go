package amazonebs

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// stepRunInstance launches the build instance: on demand with
// RunInstances, or (spot_price) as Packer does, through a spot fleet.
// Sets instanceID.
func stepRunInstance(ctx context.Context, s *state) (steps.Cleanup, error) {
	in, err := s.runInstancesInput()
	if err != nil {
		return nil, err
	}
	var id string
	var launchCleanup steps.Cleanup
	if s.cfg.SpotPrice != "" {
		id, launchCleanup, err = s.launchSpot(ctx, in)
	} else {
		id, err = s.runInstance(ctx, in)
	}
	if id == "" {
		return launchCleanup, err
	}
	s.instanceID = id
	cleanup := func(ctx context.Context) error {
		err := s.terminate(ctx, id)
		if launchCleanup != nil {
			err = errors.Join(err, launchCleanup(ctx))
		}
		return err
	}
	if err := s.record(awsclient.KindInstance, id, s.region); err != nil {
		return cleanup, err
	}
	s.generated["ID"] = id
	if err := s.removeDuplicateInstances(ctx, id); err != nil {
		return cleanup, err
	}
	return cleanup, nil
}

// runInstance launches an on-demand instance.
func (s *state) runInstance(ctx context.Context, in *ec2.RunInstancesInput) (string, error) {
	s.say("Launching a %s instance from %s...", in.InstanceType, aws.ToString(in.ImageId))
	var opts []func(*ec2.Options)
	if s.instanceProfile != "" {
		// A profile made a moment ago takes EC2 seconds to accept.
		opts = append(opts, awsclient.RetryWhen(2*time.Minute, awsclient.ProfileNotYetUsable))
	}
	out, err := s.ec2.RunInstances(ctx, in, opts...)
	if err != nil {
		if awsclient.Code(err) == "InvalidParameterValue" || awsclient.Code(err) == "InvalidInstanceType" {
			return "", fmt.Errorf("launching the instance: %w (check instance_type, availability_zone and subnet)", awsclient.Explain(err))
		}
		return "", fmt.Errorf("launching the instance: %w", awsclient.Explain(err))
	}
	if len(out.Instances) == 0 {
		return "", errors.New("launching the instance: EC2 returned no instance")
	}
	return aws.ToString(out.Instances[0].InstanceId), nil
}

func (s *state) terminate(ctx context.Context, id string) error {
	s.say("Terminating instance %s...", id)
	// Right after RunInstances the id may not be known yet.
	_, err := s.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}},
		awsclient.RetryOn(time.Minute, awsclient.InstanceNotYetVisible))
	if err != nil && !awsclient.IsNotFound(err) {
		return fmt.Errorf("terminating instance %s: %w", id, err)
	}
	w := ec2.NewInstanceTerminatedWaiter(s.ec2, func(o *ec2.InstanceTerminatedWaiterOptions) { o.MinDelay = time.Second })
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, s.wait(10*time.Minute)); err != nil && !awsclient.IsNotFound(err) {
		return fmt.Errorf("waiting for instance %s to terminate: %w", id, err)
	}
	s.forget(awsclient.KindInstance, id, s.region)
	return nil
}

func (s *state) runInstancesInput() (*ec2.RunInstancesInput, error) {
	c := s.cfg
	runTags, err := renderMap(c.RunTags, s.generated, s.now)
	if err != nil {
		return nil, fmt.Errorf("run_tags: %w", err)
	}
	volTags, err := renderMap(c.RunVolumeTags, s.generated, s.now)
	if err != nil {
		return nil, fmt.Errorf("run_volume_tags: %w", err)
	}
	if _, ok := runTags["Name"]; !ok {
		runTags["Name"] = "Packer Builder"
	}
	itype := c.InstanceType
	if itype == "" && len(c.SpotInstanceTypes) > 0 {
		itype = c.SpotInstanceTypes[0]
	}
	in := &ec2.RunInstancesInput{
		ImageId:                           s.source.ImageId,
		InstanceType:                      types.InstanceType(itype),
		MinCount:                          aws.Int32(1),
		MaxCount:                          aws.Int32(1),
		ClientToken:                       aws.String(s.clientToken("instance")),
		InstanceInitiatedShutdownBehavior: types.ShutdownBehavior(c.ShutdownBehavior),
		EbsOptimized:                      aws.Bool(c.EBSOptimized),
		TagSpecifications: []types.TagSpecification{
			tagSpec(types.ResourceTypeInstance, tagList(runTags, s.runTags()...)),
			tagSpec(types.ResourceTypeVolume, tagList(volTags, s.runTags()...)),
		},
		BlockDeviceMappings: blockDevices(c.LaunchBlockDevices),
	}
	if c.NoEphemeral {
		in.BlockDeviceMappings = append(in.BlockDeviceMappings, noEphemeralDevices()...)
	}
	if s.keyName != "" {
		in.KeyName = aws.String(s.keyName)
	}
	userData := c.UserData
	if c.UserDataFile != "" {
		b, err := os.ReadFile(c.UserDataFile)
		if err != nil {
			return nil, fmt.Errorf("user_data_file: %w", err)
		}
		userData = string(b)
	}
	if userData != "" {
		in.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))
	}
	if s.instanceProfile != "" {
		in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String(s.instanceProfile)}
	}
	if c.AssociatePublicIPAddress != nil && s.subnetID != "" {
		in.NetworkInterfaces = []types.InstanceNetworkInterfaceSpecification{{
			DeviceIndex:              aws.Int32(0),
			AssociatePublicIpAddress: c.AssociatePublicIPAddress,
			SubnetId:                 aws.String(s.subnetID),
			Groups:                   s.sgIDs,
			DeleteOnTermination:      aws.Bool(true),
		}}
	} else {
		in.SecurityGroupIds = s.sgIDs
		if s.subnetID != "" {
			in.SubnetId = aws.String(s.subnetID)
		}
	}
	if s.az != "" || c.Tenancy != "" || c.Placement != nil {
		p := &types.Placement{}
		if s.az != "" && s.subnetID == "" {
			p.AvailabilityZone = aws.String(s.az)
		}
		ten := c.Tenancy
		if c.Placement != nil {
			if c.Placement.Tenancy != "" {
				ten = c.Placement.Tenancy
			}
			if c.Placement.HostResourceGroupARN != "" {
				p.HostResourceGroupArn = aws.String(c.Placement.HostResourceGroupARN)
			}
			if c.Placement.HostID != "" {
				p.HostId = aws.String(c.Placement.HostID)
			}
		}
		if ten != "" {
			p.Tenancy = types.Tenancy(ten)
		}
		in.Placement = p
	}
	if m := c.Metadata; m != nil {
		mo := &types.InstanceMetadataOptionsRequest{}
		if m.HTTPEndpoint != "" {
			mo.HttpEndpoint = types.InstanceMetadataEndpointState(m.HTTPEndpoint)
		}
		if m.HTTPTokens != "" {
			mo.HttpTokens = types.HttpTokensState(m.HTTPTokens)
		}
		if m.HTTPPutResponseHopLimit != 0 {
			mo.HttpPutResponseHopLimit = aws.Int32(m.HTTPPutResponseHopLimit)
		}
		if m.InstanceMetadataTags != "" {
			mo.InstanceMetadataTags = types.InstanceMetadataTagsState(m.InstanceMetadataTags)
		}
		in.MetadataOptions = mo
	}
	if c.EnableUnlimitedCredits {
		in.CreditSpecification = &types.CreditSpecificationRequest{CpuCredits: aws.String("unlimited")}
	}
	if c.EnableNitroEnclave {
		in.EnclaveOptions = &types.EnclaveOptionsRequest{Enabled: aws.Bool(true)}
	}
	if c.SpotPrice != "" {
		spot := &types.SpotMarketOptions{SpotInstanceType: types.SpotInstanceTypeOneTime}
		if c.SpotPrice != "auto" {
			spot.MaxPrice = aws.String(c.SpotPrice)
		}
		in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot, SpotOptions: spot}
	}
	if c.CapacityReservationID != "" || c.CapacityReservationPreference != "" || c.CapacityReservationGroupARN != "" {
		cr := &types.CapacityReservationSpecification{}
		if c.CapacityReservationPreference != "" {
			cr.CapacityReservationPreference = types.CapacityReservationPreference(c.CapacityReservationPreference)
		}
		if c.CapacityReservationID != "" || c.CapacityReservationGroupARN != "" {
			t := &types.CapacityReservationTarget{}
			if c.CapacityReservationID != "" {
				t.CapacityReservationId = aws.String(c.CapacityReservationID)
			}
			if c.CapacityReservationGroupARN != "" {
				t.CapacityReservationResourceGroupArn = aws.String(c.CapacityReservationGroupARN)
			}
			cr.CapacityReservationTarget = t
		}
		in.CapacityReservationSpecification = cr
	}
	for _, ls := range c.LicenseSpecifications {
		if ls.LicenseConfigurationRequest != nil {
			in.LicenseSpecifications = append(in.LicenseSpecifications, types.LicenseConfigurationRequest{
				LicenseConfigurationArn: aws.String(ls.LicenseConfigurationRequest.LicenseConfigurationARN)})
		}
	}
	return in, nil
}

func blockDevices(bds []BlockDevice) []types.BlockDeviceMapping {
	var out []types.BlockDeviceMapping
	for _, bd := range bds {
		m := types.BlockDeviceMapping{DeviceName: aws.String(bd.DeviceName)}
		switch {
		case bd.NoDevice:
			m.NoDevice = aws.String("")
		case bd.VirtualName != "":
			m.VirtualName = aws.String(bd.VirtualName)
		default:
			e := &types.EbsBlockDevice{DeleteOnTermination: aws.Bool(bd.DeleteOnTermination), Encrypted: bd.Encrypted}
			if bd.VolumeType != "" {
				e.VolumeType = types.VolumeType(bd.VolumeType)
			}
			if bd.VolumeSize > 0 {
				e.VolumeSize = aws.Int32(bd.VolumeSize)
			}
			if bd.IOPS > 0 {
				e.Iops = aws.Int32(bd.IOPS)
			}
			if bd.Throughput > 0 {
				e.Throughput = aws.Int32(bd.Throughput)
			}
			if bd.SnapshotID != "" {
				e.SnapshotId = aws.String(bd.SnapshotID)
			}
			if bd.KMSKeyID != "" {
				e.KmsKeyId = aws.String(bd.KMSKeyID)
			}
			m.Ebs = e
		}
		out = append(out, m)
	}
	return out
}

// noEphemeralDevices maps the device names EC2 gives instance-store
// volumes, xvdca to xvdcz, to no device (no_ephemeral): launched through
// the API, an instance otherwise shows them, where the console leaves out
// those the user did not ask for.
func noEphemeralDevices() []types.BlockDeviceMapping {
	out := make([]types.BlockDeviceMapping, 0, 26)
	for l := 'a'; l <= 'z'; l++ {
		out = append(out, types.BlockDeviceMapping{DeviceName: aws.String("xvdc" + string(l)), NoDevice: aws.String("")})
	}
	return out
}

// stepWaitRunning waits until the instance runs and works out the address
// to reach it. Sets instance and the Host/Port generated values.
func stepWaitRunning(ctx context.Context, s *state) (steps.Cleanup, error) {
	bound := s.wait(10 * time.Minute)
	s.say("Waiting for instance %s to run (at most %s)...", s.instanceID, bound)
	in := &ec2.DescribeInstancesInput{InstanceIds: []string{s.instanceID}}
	// The SDK's waiter fails on an unknown id, which an instance has for
	// a moment after RunInstances: its calls retry that.
	out, err := ec2.NewInstanceRunningWaiter(s.ec2, func(o *ec2.InstanceRunningWaiterOptions) {
		o.MinDelay = time.Second
		o.ClientOptions = append(o.ClientOptions, awsclient.RetryOn(2*time.Minute, awsclient.InstanceNotYetVisible))
	}).WaitForOutput(ctx, in, bound)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for instance %s to run: %w", s.instanceID, context.Cause(ctx))
		}
		return nil, fmt.Errorf("instance %s did not reach running within %s: %w (raise aws_polling max_attempts if the region is slow)", s.instanceID, bound, err)
	}
	if len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
		return nil, fmt.Errorf("instance %s vanished while starting", s.instanceID)
	}
	s.instance = out.Reservations[0].Instances[0]
	host := s.host()
	if host == "" && s.cfg.Type != communicator.TypeNone {
		return nil, fmt.Errorf("instance %s has no address for ssh_interface %q: set ssh_interface or associate_public_ip_address", s.instanceID, s.cfg.SSHInterface)
	}
	s.generated["Host"] = host
	s.generated["Port"] = fmt.Sprint(s.cfg.SSHPort)
	return nil, nil
}

// host picks the address to SSH to, as Packer does: ssh_host, else by
// ssh_interface, else the public address when there is one.
func (s *state) host() string {
	if s.cfg.SSHHost != "" {
		return s.cfg.SSHHost
	}
	i := s.instance
	switch s.cfg.SSHInterface {
	case "public_ip":
		return aws.ToString(i.PublicIpAddress)
	case "private_ip":
		return aws.ToString(i.PrivateIpAddress)
	case "public_dns":
		return aws.ToString(i.PublicDnsName)
	case "private_dns":
		return aws.ToString(i.PrivateDnsName)
	}
	for _, h := range []*string{i.PublicDnsName, i.PublicIpAddress, i.PrivateIpAddress} {
		if aws.ToString(h) != "" {
			return aws.ToString(h)
		}
	}
	return ""
}
