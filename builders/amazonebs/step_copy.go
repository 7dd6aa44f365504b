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

// stepCopyImage encrypts the AMI when encrypt_boot asks for it (a copy in
// the build region), then copies it to every ami_regions region. Cleanups
// remove unfinished copies.
func stepCopyImage(ctx context.Context, s *state) (steps.Cleanup, error) {
	c := s.cfg
	if c.SkipCreateAMI || len(s.amis) == 0 {
		return nil, nil
	}
	var cleanups []steps.Cleanup
	cleanup := func(ctx context.Context) error {
		var first error
		for i := len(cleanups) - 1; i >= 0; i-- {
			if err := cleanups[i](ctx); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	src := s.amis[0]
	encrypt := c.EncryptBoot != nil && *c.EncryptBoot
	if encrypt {
		s.say("Encrypting AMI %s (encrypt_boot)...", src.ID)
		id, err := s.copyTo(ctx, s.region, src, true, c.KMSKeyID, &cleanups)
		if err != nil {
			return cleanup, err
		}
		// The unencrypted original is no longer wanted.
		if _, err := awsclient.DeleteImage(ctx, s.ec2, src.ID, true); err != nil {
			return cleanup, err
		}
		s.forget(awsclient.KindImage, src.ID, s.region)
		src = regionAMI{Region: s.region, ID: id}
		s.amis = []regionAMI{src}
	}
	for _, region := range c.AMIRegions {
		if region == s.region {
			continue
		}
		key := c.RegionKMSKeyIDs[region]
		if _, err := s.copyTo(ctx, region, src, encrypt || key != "", key, &cleanups); err != nil {
			return cleanup, err
		}
	}
	if c.SkipSaveBuildRegion && len(s.amis) > 1 {
		s.say("Deleting AMI %s in the build region (skip_save_build_region)...", src.ID)
		if _, err := awsclient.DeleteImage(ctx, s.ec2, src.ID, true); err != nil {
			return cleanup, err
		}
		s.forget(awsclient.KindImage, src.ID, s.region)
		s.amis = s.amis[1:]
	}
	return cleanup, nil
}

func (s *state) copyTo(ctx context.Context, region string, src regionAMI, encrypt bool, kmsKey string, cleanups *[]steps.Cleanup) (string, error) {
	cl, err := s.clientFor(ctx, region)
	if err != nil {
		return "", fmt.Errorf("copying AMI to %s: %w", region, err)
	}
	s.say("Copying AMI %s to %s...", src.ID, region)
	in := &ec2.CopyImageInput{
		Name:              aws.String(s.amiName),
		SourceImageId:     aws.String(src.ID),
		SourceRegion:      aws.String(src.Region),
		ClientToken:       aws.String(s.clientToken("copy", src.ID, region)),
		TagSpecifications: []types.TagSpecification{tagSpec(types.ResourceTypeImage, s.pendingTags())},
	}
	if s.amiDesc != "" {
		in.Description = aws.String(s.amiDesc)
	}
	if encrypt {
		in.Encrypted = aws.Bool(true)
		if kmsKey != "" {
			in.KmsKeyId = aws.String(kmsKey)
		}
	}
	if s.cfg.SnapshotCopyDurationMinutes > 0 {
		in.SnapshotCopyCompletionDurationMinutes = aws.Int64(s.cfg.SnapshotCopyDurationMinutes)
	}
	began := time.Now()
	out, err := cl.CopyImage(ctx, in)
	if err != nil {
		return "", fmt.Errorf("copying AMI %s to %s: %w", src.ID, region, awsclient.Explain(err))
	}
	id := aws.ToString(out.ImageId)
	*cleanups = append(*cleanups, s.imageCleanup(cl, region, id))
	if err := s.record(awsclient.KindImage, id, region); err != nil {
		return "", err
	}
	s.amis = append(s.amis, regionAMI{Region: region, ID: id})
	if err := s.removeDuplicateImages(ctx, cl, region, id, began); err != nil {
		return "", err
	}
	return id, s.waitAndTag(ctx, cl, region, id)
}

// stepShare grants launch permission (ami_users, ami_groups, ami_org_arns,
// ami_ou_arns) and snapshot volume permission (snapshot_users,
// snapshot_groups) in every region.
func stepShare(ctx context.Context, s *state) (steps.Cleanup, error) {
	c := s.cfg
	for _, a := range s.amis {
		cl, err := s.clientFor(ctx, a.Region)
		if err != nil {
			return nil, err
		}
		lp := &types.LaunchPermissionModifications{}
		for _, u := range c.AMIUsers {
			lp.Add = append(lp.Add, types.LaunchPermission{UserId: aws.String(u)})
		}
		for _, g := range c.AMIGroups {
			lp.Add = append(lp.Add, types.LaunchPermission{Group: types.PermissionGroup(g)})
		}
		for _, o := range c.AMIOrgARNs {
			lp.Add = append(lp.Add, types.LaunchPermission{OrganizationArn: aws.String(o)})
		}
		for _, o := range c.AMIOuARNs {
			lp.Add = append(lp.Add, types.LaunchPermission{OrganizationalUnitArn: aws.String(o)})
		}
		if len(lp.Add) > 0 {
			s.say("Sharing AMI %s in %s...", a.ID, a.Region)
			if _, err := cl.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(a.ID), LaunchPermission: lp}); err != nil {
				return nil, fmt.Errorf("sharing AMI %s: %w", a.ID, awsclient.Explain(err))
			}
		}
		if len(c.AMIProductCodes) > 0 {
			if _, err := cl.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(a.ID), ProductCodes: c.AMIProductCodes}); err != nil {
				return nil, fmt.Errorf("setting ami_product_codes on %s: %w", a.ID, awsclient.Explain(err))
			}
		}
		if len(c.SnapshotUsers)+len(c.SnapshotGroups) == 0 {
			continue
		}
		out, err := cl.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{a.ID}})
		if err != nil || len(out.Images) == 0 {
			return nil, fmt.Errorf("looking up AMI %s to share its snapshots: %w", a.ID, awsclient.Explain(err))
		}
		for _, sn := range awsclient.ImageSnapshots(out.Images[0]) {
			_, err := cl.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
				SnapshotId: aws.String(sn), Attribute: types.SnapshotAttributeNameCreateVolumePermission,
				OperationType: types.OperationTypeAdd, UserIds: c.SnapshotUsers, GroupNames: c.SnapshotGroups,
			})
			if err != nil {
				return nil, fmt.Errorf("sharing snapshot %s: %w", sn, awsclient.Explain(err))
			}
		}
	}
	return nil, nil
}

// stepFinish marks the AMIs as the build's result: the pending tags go,
// the ledger says they are kept, and the cleanups leave them alone.
func stepFinish(ctx context.Context, s *state) (steps.Cleanup, error) {
	for _, a := range s.amis {
		cl, err := s.clientFor(ctx, a.Region)
		if err != nil {
			return nil, err
		}
		ids := []string{a.ID}
		out, err := cl.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: ids})
		if err == nil && len(out.Images) > 0 {
			ids = append(ids, awsclient.ImageSnapshots(out.Images[0])...)
		}
		if _, err := cl.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: ids, Tags: []types.Tag{{Key: aws.String(TagPendingRun)}, {Key: aws.String(TagBuildID)}}}); err != nil {
			return nil, fmt.Errorf("marking AMI %s finished: %w", a.ID, awsclient.Explain(err))
		}
		for _, id := range ids[1:] {
			s.keep(awsclient.KindSnapshot, id, a.Region)
		}
		s.keep(awsclient.KindImage, a.ID, a.Region)
		s.say("AMI in %s: %s", a.Region, a.ID)
	}
	s.success = true
	return nil, nil
}
