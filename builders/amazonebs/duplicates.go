package amazonebs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imgbuild/imgbuild/internal/awsclient"
)

// The SDK retries a create whose answer was lost (a 5xx, a reset
// connection). AWS honours ClientToken, so a retried RunInstances or
// CopyImage returns the first result; CreateImage has no token, and
// emulators honour none. So after each create the build looks for what
// a retry may have made besides the resource it got back, and removes it.

// clientToken is a stable idempotency token for one create of this build:
// the build asking again for the same thing gets the same token, and
// another build of the run (which asks for the same things) another one.
func (s *state) clientToken(parts ...string) string {
	h := sha256.Sum256([]byte(s.runID + "|" + s.buildID + "|" + strings.Join(parts, "|")))
	return hex.EncodeToString(h[:16])
}

// removeDuplicateImages deregisters, with their snapshots, the AMIs named
// like ours in region that this build made besides keep and the AMIs it
// holds: those carrying the build's pending tags, and untagged ones created
// since the create began (an emulator that drops TagSpecifications on
// CopyImage). Each is written to the ledger before it is removed.
func (s *state) removeDuplicateImages(ctx context.Context, c *ec2.Client, region, keep string, since time.Time) error {
	if s.beforeDuplicateCheck != nil {
		s.beforeDuplicateCheck(ctx, c, region, keep)
	}
	images, err := s.ownImagesNamedLikeOurs(ctx, c)
	if err != nil {
		return fmt.Errorf("looking for duplicate AMIs named %q in %s: %w", s.amiName, region, awsclient.Explain(err))
	}
	for _, img := range images {
		id := aws.ToString(img.ImageId)
		if id == keep || s.known(id) || !s.madeByThisBuild(img.Tags, aws.ToString(img.CreationDate), since) {
			continue
		}
		s.say("Deregistering duplicate AMI %s in %s (a retried request created it)...", id, region)
		if err := s.record(awsclient.KindImage, id, region); err != nil {
			return err
		}
		snaps, err := awsclient.DeleteImage(ctx, c, id, true)
		if err != nil {
			return fmt.Errorf("removing duplicate AMI %s in %s: %w", id, region, err)
		}
		for _, sn := range snaps {
			s.forget(awsclient.KindSnapshot, sn, region)
		}
		s.forget(awsclient.KindImage, id, region)
	}
	return nil
}

// removeDuplicateInstances terminates the instances of this build other
// than keep (a retried RunInstances on an endpoint that ignores
// ClientToken). The other builds of the run are not this build's business.
func (s *state) removeDuplicateInstances(ctx context.Context, keep string) error {
	if s.beforeDuplicateCheck != nil {
		s.beforeDuplicateCheck(ctx, s.ec2, s.region, keep)
	}
	out, err := s.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		s.buildFilter(),
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
	}})
	if err != nil {
		return fmt.Errorf("looking for duplicate instances of build %s: %w", s.env.Name, awsclient.Explain(err))
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			id := aws.ToString(i.InstanceId)
			if id == keep {
				continue
			}
			if err := s.record(awsclient.KindInstance, id, s.region); err != nil {
				return err
			}
			s.say("Terminating duplicate instance %s (a retried request created it)...", id)
			if err := s.terminate(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// known reports whether the build holds AMI id (the unencrypted original
// shares the name of its encrypted copy until it is deleted).
func (s *state) known(id string) bool {
	for _, a := range s.amis {
		if a.ID == id {
			return true
		}
	}
	return false
}

// madeByThisBuild reports whether an AMI with our name is this build's: it
// carries our pending tags, or it has no tags at all and was created since
// the create began.
func (s *state) madeByThisBuild(tags []types.Tag, created string, since time.Time) bool {
	if len(tags) > 0 {
		t := awsclient.Tags(tags)
		return t[TagPendingRun] == s.runID && t[TagBuildID] == s.buildID
	}
	at, err := time.Parse(time.RFC3339, created)
	// A minute of slack for the difference between our clock and EC2's.
	return err == nil && !at.Before(since.Add(-time.Minute))
}

// ownImagesNamedLikeOurs lists this account's AMIs in c's region that
// carry ami_name.
func (s *state) ownImagesNamedLikeOurs(ctx context.Context, c *ec2.Client) ([]types.Image, error) {
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{s.amiName}}},
	})
	if err != nil {
		return nil, err
	}
	return out.Images, nil
}
