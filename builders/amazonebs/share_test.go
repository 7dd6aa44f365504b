package amazonebs

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imgbuild/imgbuild/internal/awsclient"
)

// ami_users and snapshot_users share the AMI and its snapshots;
// encrypt_boot replaces the AMI with an (encrypted) copy.
func TestSharingAndEncryptionOptionsApplyToTheAMI(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "share")
	c.AMIUsers = []string{"111122223333"}
	c.SnapshotUsers = []string{"111122223333"}
	enc := true
	c.EncryptBoot = &enc
	b := prepared(t, c)
	env, _ := newEnv(t, "share")
	art, err := b.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	removeAMIs(t, art)
	ctx := context.Background()
	cl := ec2For(t, "us-east-1")
	imgs := imagesNamed(t, "us-east-1", c.AMIName)
	if len(imgs) != 1 {
		t.Fatalf("%d AMIs named %s, want 1 (the encrypted copy only)", len(imgs), c.AMIName)
	}
	id := aws.ToString(imgs[0].ImageId)
	attr, err := cl.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameLaunchPermission})
	if err != nil {
		t.Fatal(err)
	}
	if len(attr.LaunchPermissions) != 1 || aws.ToString(attr.LaunchPermissions[0].UserId) != "111122223333" {
		t.Errorf("launch permissions = %+v, want user 111122223333", attr.LaunchPermissions)
	}
	for _, sn := range awsclient.ImageSnapshots(imgs[0]) {
		out, err := cl.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{sn}})
		if err != nil {
			t.Fatal(err)
		}
		// moto's CopyImage does not model encryption, so the snapshot's
		// Encrypted flag cannot be checked here; that the unencrypted
		// original is gone is checked above.
		if len(out.Snapshots) != 1 {
			t.Errorf("snapshot %s not found", sn)
		}
		sa, err := cl.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(sn), Attribute: types.SnapshotAttributeNameCreateVolumePermission})
		if err != nil {
			t.Fatal(err)
		}
		if len(sa.CreateVolumePermissions) != 1 || aws.ToString(sa.CreateVolumePermissions[0].UserId) != "111122223333" {
			t.Errorf("snapshot %s volume permissions = %+v", sn, sa.CreateVolumePermissions)
		}
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
}
