package amazonebs

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

// launchTemplatesOf lists the launch templates tagged with run.
func launchTemplatesOf(t *testing.T, run string) []string {
	t.Helper()
	out, err := ec2For(t, "us-east-1").DescribeLaunchTemplates(context.Background(), &ec2.DescribeLaunchTemplatesInput{
		Filters: []types.Filter{{Name: aws.String("tag:" + TagRun), Values: []string{run}}}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, lt := range out.LaunchTemplates {
		names = append(names, aws.ToString(lt.LaunchTemplateName))
	}
	return names
}

// A spot build with several instance types goes through a launch template
// and an instant fleet, as Packer's does: the instance is a spot one of
// one of the types, the fleet carries fleet_tags, and the launch template
// (tagged with spot_tags) is gone when the build ends.
func TestSpotInstanceTypesLaunchThroughAFleet(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "fleet")
	c.InstanceType = ""
	c.SpotPrice = "auto"
	c.SpotInstanceTypes = []string{"t3.small", "t3a.small"}
	c.SpotAllocationStrategy = "price-capacity-optimized"
	c.SpotTags = map[string]string{"spot": "yes"}
	c.FleetTags = map[string]string{"fleet": "yes"}
	b := prepared(t, c)
	env, _ := newEnv(t, "fleet")
	var itype string
	var templates []string
	env.Provision = func(ctx context.Context, _ communicator.Communicator, data plugin.GeneratedData) error {
		out, err := ec2For(t, "us-east-1").DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{data["ID"]}})
		if err != nil {
			return err
		}
		i := out.Reservations[0].Instances[0]
		itype = string(i.InstanceType)
		if i.InstanceLifecycle != "spot" {
			t.Errorf("instance lifecycle = %q, want spot", i.InstanceLifecycle)
		}
		if awsclient.Tags(i.Tags)[TagRun] != env.RunUUID {
			t.Errorf("the instance lacks the run tag: %v", i.Tags)
		}
		templates = launchTemplatesOf(t, env.RunUUID)
		return nil
	}
	art, err := b.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	removeAMIs(t, art)
	if itype != "t3.small" && itype != "t3a.small" {
		t.Errorf("instance type %q, want one of spot_instance_types", itype)
	}
	if len(templates) != 1 || !strings.HasPrefix(templates[0], "packer-fleet-launch-template-") {
		t.Errorf("launch templates while provisioning: %v, want one temporary template", templates)
	}
	if left := launchTemplatesOf(t, env.RunUUID); len(left) > 0 {
		t.Errorf("the build left launch templates %v", left)
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
}

// The launch options reach the launch template under its API's types; a
// subnet without a network interface becomes one with the groups.
func TestLaunchTemplateDataCarriesTheLaunchOptions(t *testing.T) {
	in := &ec2.RunInstancesInput{
		ImageId: aws.String("ami-1"), InstanceType: types.InstanceTypeT3Micro, KeyName: aws.String("k"),
		UserData: aws.String("dXNlcg=="), EbsOptimized: aws.Bool(true),
		IamInstanceProfile: &types.IamInstanceProfileSpecification{Name: aws.String("packer-p")},
		SecurityGroupIds:   []string{"sg-1"}, SubnetId: aws.String("subnet-1"),
		Placement:       &types.Placement{AvailabilityZone: aws.String("us-east-1a"), Tenancy: types.TenancyDedicated},
		MetadataOptions: &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(2)},
		InstanceMarketOptions: &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot,
			SpotOptions: &types.SpotMarketOptions{MaxPrice: aws.String("0.05")}},
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sdb"),
			Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(4), VolumeType: types.VolumeTypeGp3, Encrypted: aws.Bool(true)}}},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}},
	}
	d := launchTemplateData(in)
	switch {
	case aws.ToString(d.ImageId) != "ami-1" || d.InstanceType != types.InstanceTypeT3Micro || aws.ToString(d.KeyName) != "k":
		t.Errorf("image, type or key lost: %+v", d)
	case d.IamInstanceProfile == nil || aws.ToString(d.IamInstanceProfile.Name) != "packer-p":
		t.Errorf("instance profile lost")
	case len(d.NetworkInterfaces) != 1 || aws.ToString(d.NetworkInterfaces[0].SubnetId) != "subnet-1" || d.NetworkInterfaces[0].Groups[0] != "sg-1" || d.SecurityGroupIds != nil:
		t.Errorf("subnet and groups: %+v / %v", d.NetworkInterfaces, d.SecurityGroupIds)
	case d.Placement == nil || d.Placement.Tenancy != types.TenancyDedicated:
		t.Errorf("placement lost")
	case d.MetadataOptions == nil || d.MetadataOptions.HttpTokens != types.LaunchTemplateHttpTokensStateRequired || aws.ToInt32(d.MetadataOptions.HttpPutResponseHopLimit) != 2:
		t.Errorf("metadata options lost: %+v", d.MetadataOptions)
	case d.InstanceMarketOptions == nil || aws.ToString(d.InstanceMarketOptions.SpotOptions.MaxPrice) != "0.05":
		t.Errorf("spot price lost")
	case len(d.BlockDeviceMappings) != 1 || aws.ToInt32(d.BlockDeviceMappings[0].Ebs.VolumeSize) != 4 || !aws.ToBool(d.BlockDeviceMappings[0].Ebs.Encrypted):
		t.Errorf("block devices lost: %+v", d.BlockDeviceMappings)
	case len(d.TagSpecifications) != 1 || d.TagSpecifications[0].ResourceType != types.ResourceTypeInstance:
		t.Errorf("instance tags lost")
	}
}

// EC2 reports a fleet's per-type failures as text: a profile it does not
// see yet is retried as the same refusal of RunInstances is, and so is a
// momentary lack of spot capacity; a wrong spot price is not.
func TestFleetRetriesWhatALaterTryMayLaunch(t *testing.T) {
	for _, tt := range []struct {
		code, msg string
		retry     bool
	}{
		{"InvalidLaunchTemplateConfiguration", "Invalid IAM Instance Profile name", true},
		{"InsufficientInstanceCapacity", "There is no Spot capacity available that matches your request.", true},
		{"SpotMaxPriceTooLow", "Your Spot request price of 0.001 is lower than the minimum required Spot request fulfillment price of 0.0035.", false},
	} {
		err := fleetErrors([]types.CreateFleetError{{ErrorCode: aws.String(tt.code), ErrorMessage: aws.String(tt.msg)}})
		if got := fleetRetryable(err); got != tt.retry {
			t.Errorf("fleetRetryable(%v) = %v, want %v", err, got, tt.retry)
		}
	}
}

// no_ephemeral maps xvdca to xvdcz to no device, on an on-demand launch
// and in a spot fleet's launch template alike.
func TestNoEphemeralMapsTheInstanceStoreNamesToNoDevice(t *testing.T) {
	for _, tt := range []struct {
		name, action, prefix string
		spot                 bool
	}{
		{"on demand", "RunInstances", "BlockDeviceMapping.", false},
		{"spot fleet", "CreateLaunchTemplate", "LaunchTemplateData.BlockDeviceMapping.", true},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			motoEnv(t)
			rec, endpoint := recordEC2(t)
			c := baseConfig(t, "noeph")
			c.CustomEndpointEC2 = endpoint
			c.NoEphemeral = true
			if tt.spot {
				c.InstanceType, c.SpotPrice, c.SpotInstanceTypes = "", "auto", []string{"t3.small"}
			}
			art, env, _, err := buildWithoutProvisioning(t, c, "noeph")
			removeAMIs(t, art)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			calls := rec.params(tt.action)
			if len(calls) == 0 {
				t.Fatalf("no %s call", tt.action)
			}
			var none []string
			for i := 1; ; i++ {
				name := calls[0].Get(fmt.Sprintf("%s%d.DeviceName", tt.prefix, i))
				if name == "" {
					break
				}
				if calls[0].Has(fmt.Sprintf("%s%d.NoDevice", tt.prefix, i)) {
					none = append(none, name)
				}
			}
			if len(none) != 26 || none[0] != "xvdca" || none[25] != "xvdcz" {
				t.Errorf("%s maps %v to no device, want xvdca to xvdcz", tt.action, none)
			}
			assertNoLeftovers(t, env.RunUUID, "us-east-1")
		})
	}
}
