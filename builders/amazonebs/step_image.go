package amazonebs

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// stepCreateImage replaces an AMI of the same name when asked
// (force_deregister), snapshots the stopped instance into the AMI, waits
// until it is available, and tags it and its snapshots. Appends to amis.
func stepCreateImage(ctx context.Context, s *state) (steps.Cleanup, error) {
	c := s.cfg
	if c.SkipCreateAMI {
		return nil, nil
	}
	if c.ForceDeregister || s.env.Force {
		if err := s.deregisterSameName(ctx, s.ec2, s.region); err != nil {
			return nil, err
		}
	}
	s.say("Creating AMI %q from instance %s...", s.amiName, s.instanceID)
	in := &ec2.CreateImageInput{
		InstanceId:          aws.String(s.instanceID),
		Name:                aws.String(s.amiName),
		BlockDeviceMappings: blockDevices(c.AMIBlockDeviceMappings),
		TagSpecifications:   []types.TagSpecification{tagSpec(types.ResourceTypeImage, s.pendingTags())},
		BootModeOverride:    s.bootModeOverride(),
	}
	if s.amiDesc != "" {
		in.Description = aws.String(s.amiDesc)
	}
	began := time.Now()
	id, err := s.createImage(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("creating AMI %q: %w", s.amiName, awsclient.Explain(err))
	}
	cleanup := s.imageCleanup(s.ec2, s.region, id)
	if err := s.record(awsclient.KindImage, id, s.region); err != nil {
		return cleanup, err
	}
	s.amis = append(s.amis, regionAMI{Region: s.region, ID: id})
	if err := s.removeDuplicateImages(ctx, s.ec2, s.region, id, began); err != nil {
		return cleanup, err
	}
	if err := s.waitAndTag(ctx, s.ec2, s.region, id); err != nil {
		return cleanup, err
	}
	return cleanup, nil
}

func (s *state) pendingTags() []types.Tag {
	return []types.Tag{{Key: aws.String(TagPendingRun), Value: aws.String(s.runID)}, s.buildTag()}
}

// imageCleanup removes an AMI and its snapshots unless the build succeeded.
func (s *state) imageCleanup(c *ec2.Client, region, id string) steps.Cleanup {
	return func(ctx context.Context) error {
		if s.success {
			return nil
		}
		s.say("Deleting unfinished AMI %s in %s...", id, region)
		snaps, err := awsclient.DeleteImage(ctx, c, id, true)
		if err != nil {
			return err
		}
		for _, sn := range snaps {
			s.forget(awsclient.KindSnapshot, sn, region)
		}
		s.forget(awsclient.KindImage, id, region)
		return nil
	}
}

// waitAndTag waits for an AMI to become available, then puts tags on it
// and snapshot_tags on its snapshots (recorded in the ledger first).
func (s *state) waitAndTag(ctx context.Context, c *ec2.Client, region, id string) error {
	bound := s.wait(60 * time.Minute)
	s.say("Waiting for AMI %s in %s to become available (at most %s)...", id, region, bound)
	// The SDK's waiter fails on an unknown id, which an AMI (a copy in
	// another region above all) has for a moment: its calls retry that.
	out, err := ec2.NewImageAvailableWaiter(c, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay = time.Second
		o.ClientOptions = append(o.ClientOptions, awsclient.RetryOn(2*time.Minute, awsclient.ImageNotYetVisible))
	}).WaitForOutput(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}, bound)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for AMI %s: %w", id, context.Cause(ctx))
		}
		return fmt.Errorf("AMI %s in %s did not become available within %s: %w", id, region, bound, err)
	}
	img := out.Images[0]
	snaps := awsclient.ImageSnapshots(img)
	for _, sn := range snaps {
		if err := s.record(awsclient.KindSnapshot, sn, region); err != nil {
			return err
		}
	}
	tags, err := renderMap(s.cfg.Tags, s.generated, s.now)
	if err != nil {
		return fmt.Errorf("tags: %w", err)
	}
	snapTags, err := renderMap(s.cfg.SnapshotTags, s.generated, s.now)
	if err != nil {
		return fmt.Errorf("snapshot_tags: %w", err)
	}
	s.say("Tagging AMI %s and its snapshots %v...", id, snaps)
	if err := createTags(ctx, c, []string{id}, tagList(tags, s.pendingTags()...)); err != nil {
		return err
	}
	if len(snaps) > 0 {
		if err := createTags(ctx, c, snaps, tagList(snapTags, s.pendingTags()...)); err != nil {
			return err
		}
	}
	if s.cfg.IMDSSupport != "" {
		_, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(id), ImdsSupport: &types.AttributeValue{Value: aws.String(s.cfg.IMDSSupport)}})
		if err != nil {
			return fmt.Errorf("setting imds_support on AMI %s: %w", id, awsclient.Explain(err))
		}
	}
	if s.cfg.DeprecateAt != "" {
		t, _ := time.Parse(time.RFC3339, s.cfg.DeprecateAt)
		if _, err := c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: aws.String(id), DeprecateAt: aws.Time(t)}); err != nil {
			return fmt.Errorf("setting deprecate_at on AMI %s: %w", id, awsclient.Explain(err))
		}
	}
	return nil
}

func createTags(ctx context.Context, c *ec2.Client, ids []string, tags []types.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	// The AMI or its snapshots may be unknown for a moment after creation.
	_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: tags},
		awsclient.RetryOn(2*time.Minute, awsclient.ImageNotYetVisible, awsclient.SnapshotNotYetVisible, awsclient.InstanceNotYetVisible))
	if err != nil {
		return fmt.Errorf("tagging %v: %w", ids, awsclient.Explain(err))
	}
	return nil
}

// deregisterSameName removes AMIs of our name (force_deregister), and
// their snapshots when force_delete_snapshot is set.
func (s *state) deregisterSameName(ctx context.Context, c *ec2.Client, region string) error {
	images, err := s.ownImagesNamedLikeOurs(ctx, c)
	if err != nil {
		return fmt.Errorf("looking for AMIs named %q in %s: %w", s.amiName, region, awsclient.Explain(err))
	}
	for _, img := range images {
		id := aws.ToString(img.ImageId)
		s.say("Deregistering existing AMI %s named %q in %s (force_deregister)...", id, s.amiName, region)
		if _, err := awsclient.DeleteImage(ctx, c, id, s.cfg.ForceDeleteSnapshot); err != nil {
			return err
		}
	}
	return nil
}

// createImage calls CreateImage, which has no idempotency token: when the
// SDK retried a call whose answer was lost, the AMI exists with our name
// and our build's pending tags, and is adopted.
func (s *state) createImage(ctx context.Context, in *ec2.CreateImageInput) (string, error) {
	out, err := s.ec2.CreateImage(ctx, in)
	if err == nil {
		return aws.ToString(out.ImageId), nil
	}
	if awsclient.Code(err) != "InvalidAMIName.Duplicate" {
		return "", err
	}
	found, derr := s.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{
		{Name: aws.String("name"), Values: []string{s.amiName}},
		{Name: aws.String("tag:" + TagPendingRun), Values: []string{s.runID}},
		s.buildFilter(),
	}})
	if derr != nil || len(found.Images) != 1 {
		return "", fmt.Errorf("%w (another AMI of that name appeared during the build: set force_deregister or change ami_name)", err)
	}
	return aws.ToString(found.Images[0].ImageId), nil
}
