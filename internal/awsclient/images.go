package awsclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// ImageSnapshots returns the EBS snapshot ids behind an AMI.
func ImageSnapshots(img types.Image) []string {
	var out []string
	for _, bdm := range img.BlockDeviceMappings {
		if bdm.Ebs != nil && aws.ToString(bdm.Ebs.SnapshotId) != "" {
			out = append(out, aws.ToString(bdm.Ebs.SnapshotId))
		}
	}
	return out
}

// DeleteImage deregisters an AMI and, when withSnapshots, deletes its
// snapshots. An AMI that is already gone is not an error. It returns the
// snapshots it deleted.
func DeleteImage(ctx context.Context, c *ec2.Client, id string, withSnapshots bool) ([]string, error) {
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil && !IsNotFound(err) {
		return nil, fmt.Errorf("looking up AMI %s: %w", id, Explain(err))
	}
	var snaps []string
	if err == nil && len(out.Images) > 0 {
		snaps = ImageSnapshots(out.Images[0])
		if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil && !IsNotFound(err) {
			return nil, fmt.Errorf("deregistering AMI %s: %w", id, Explain(err))
		}
	}
	if !withSnapshots {
		return nil, nil
	}
	var errs []error
	for _, sn := range snaps {
		if err := DeleteSnapshot(ctx, c, sn); err != nil {
			errs = append(errs, err)
		}
	}
	return snaps, errors.Join(errs...)
}

// DeleteSnapshot deletes a snapshot; one already gone is not an error.
// It retries while the snapshot is still in use by an AMI being
// deregistered.
func DeleteSnapshot(ctx context.Context, c *ec2.Client, id string) error {
	_, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)}, RetryOn(2*time.Minute, "InvalidSnapshot.InUse"))
	if IsNotFound(err) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("deleting snapshot %s: %w", id, Explain(err))
	}
	return nil
}

// DeleteLaunchTemplate deletes the launch template called name; one
// already gone is not an error.
func DeleteLaunchTemplate(ctx context.Context, c *ec2.Client, name string) error {
	_, err := c.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String(name)})
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting launch template %s: %w", name, Explain(err))
	}
	return nil
}
