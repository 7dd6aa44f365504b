package amazonebs

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

func TestBuildWithoutCommunicatorCreatesTaggedAMIAndLeavesNothing(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "nocomm")
	c.Tags = map[string]string{"Name": "x", "Source": "{{ .SourceAMIName }}"}
	c.SnapshotTags = map[string]string{"snap": "yes"}
	b := prepared(t, c)
	env, _ := newEnv(t, "nocomm")
	provisioned := false
	env.Provision = func(ctx context.Context, comm communicator.Communicator, data plugin.GeneratedData) error {
		provisioned = data["SourceAMI"] != ""
		return nil
	}
	art, err := b.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	removeAMIs(t, art)
	if !provisioned {
		t.Error("provisioners did not run with SourceAMI set")
	}
	imgs := imagesNamed(t, "us-east-1", c.AMIName)
	if len(imgs) != 1 {
		t.Fatalf("want 1 AMI named %s, got %d", c.AMIName, len(imgs))
	}
	tags := awsclient.Tags(imgs[0].Tags)
	if !strings.HasPrefix(tags["Source"], "ubuntu/images/hvm-ssd/ubuntu-xenial") {
		t.Errorf("tag Source = %q, want the source AMI's name", tags["Source"])
	}
	if _, pending := tags[TagPendingRun]; pending {
		t.Error("finished AMI still carries the pending tag")
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
}

func TestSourceAMIFilterMatchingNothingFailsBeforeCreatingAnything(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "nofilter")
	c.SourceAMIFilter.Filters["name"] = "no-such-image-*"
	b := prepared(t, c)
	env, _ := newEnv(t, "nofilter")
	_, err := b.Run(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), "no AMI matches the filter") {
		t.Fatalf("err = %v, want a filter-matches-nothing error", err)
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
}

// Options that shape the launch reach EC2: a spot request, a subnet chosen
// by filter, IMDS settings, user data and a launch block device; and the
// AMI attribute options (ena_support, sriov_support, imds_support) are
// accepted by EC2 (moto does not report them back, so only the calls are
// proved).
func TestSpotInstanceInAFilteredSubnetWithLaunchOptions(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "spot")
	c.SpotPrice = "0.05"
	c.SubnetFilter = &SubnetFilterOptions{Filters: map[string]string{"default-for-az": "true"}, Random: true}
	c.Metadata = &MetadataOptions{HTTPEndpoint: "enabled", HTTPTokens: "required"}
	c.UserData = "#!/bin/sh\necho hi\n"
	c.LaunchBlockDevices = []BlockDevice{{DeviceName: "/dev/sdb", VolumeSize: 4, VolumeType: "gp3", DeleteOnTermination: true}}
	ena := true
	c.ENASupport, c.SriovSupport, c.IMDSSupport = &ena, true, "v2.0"
	b := prepared(t, c)
	env, _ := newEnv(t, "spot")
	var inst string
	env.Provision = func(ctx context.Context, _ communicator.Communicator, data plugin.GeneratedData) error {
		inst = data["ID"]
		out, err := ec2For(t, "us-east-1").DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{inst}})
		if err != nil {
			return err
		}
		i := out.Reservations[0].Instances[0]
		if aws.ToString(i.SubnetId) == "" {
			t.Error("the instance is in no subnet")
		}
		if i.InstanceLifecycle != "spot" {
			t.Errorf("instance lifecycle = %q, want spot", i.InstanceLifecycle)
		}
		return nil
	}
	art, err := b.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	removeAMIs(t, art)
	if inst == "" {
		t.Error("provisioning did not see the instance id")
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
}
