package amazonebs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

// What a create retried by the SDK after a lost answer leaves besides the
// resource the build got back is found and removed: the hook makes an AMI
// of our name by hand just before the build looks (tagged as AWS tags a
// retried CreateImage: with the tags of the AMI the build got). The
// duplicate is gone and was written to the ledger before its removal; an
// AMI of our name pending for another run, or for another build of the
// same run, is left alone.
func TestDuplicatesOfARetriedCreateAreRemoved(t *testing.T) {
	for _, tt := range []struct {
		name        string
		otherRun    bool
		otherBuild  bool
		wantRemoved bool
	}{
		{"this build's pending duplicate is removed", false, false, true},
		{"another run's AMI of the same name is kept", true, false, false},
		{"another build's AMI of the same name in the same run is kept", false, true, false},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			motoEnv(t)
			ctx := context.Background()
			c := baseConfig(t, "dup")
			b := prepared(t, c)
			env, _ := newEnv(t, "dup")
			env.Provision = func(context.Context, communicator.Communicator, plugin.GeneratedData) error { return nil }
			var dup string
			b.beforeDuplicateCheck = func(ctx context.Context, cl *ec2.Client, region, keep string) {
				if !strings.HasPrefix(keep, "ami-") {
					return
				}
				tags := imageTags(ctx, t, cl, keep)
				if tags[TagPendingRun] != env.RunUUID || tags[TagBuildID] == "" {
					t.Fatalf("the AMI the build created is tagged %v, want its run and build", tags)
				}
				if tt.otherRun {
					tags[TagPendingRun] = "another-run"
				}
				if tt.otherBuild {
					tags[TagBuildID] = "another-build"
				}
				tags["other"] = "x"
				dup = copyImage(ctx, t, cl, region, keep, c.AMIName)
				t.Cleanup(func() { awsclient.DeleteImage(context.Background(), cl, dup, true) })
				if _, err := cl.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{dup}, Tags: tagList(tags)}); err != nil {
					t.Fatal(err)
				}
			}
			art, err := b.Run(ctx, env)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			removeAMIs(t, art)
			if dup == "" {
				t.Fatal("the hook did not run")
			}
			imgs := imagesNamed(t, "us-east-1", c.AMIName)
			found := false
			for _, img := range imgs {
				found = found || aws.ToString(img.ImageId) == dup
			}
			if found == tt.wantRemoved || len(imgs) != map[bool]int{true: 1, false: 2}[tt.wantRemoved] {
				t.Errorf("AMIs named %s: %d, duplicate %s still there: %v; want it removed: %v", c.AMIName, len(imgs), dup, found, tt.wantRemoved)
			}
			l, err := ledger.Open(b.LedgerPath)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := l.Read()
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range entries {
				if e.ID == dup {
					actions = append(actions, e.Action)
				}
			}
			want := []string{}
			if tt.wantRemoved {
				want = []string{ledger.Created, ledger.Deleted}
			}
			if strings.Join(actions, ",") != strings.Join(want, ",") {
				t.Errorf("ledger entries for %s: %v, want %v", dup, actions, want)
			}
			if art != nil {
				if tags := imageTags(ctx, t, ec2For(t, "us-east-1"), art.(*Artifact).amis[0].ID); tags[TagPendingRun] != "" || tags[TagBuildID] != "" {
					t.Errorf("the finished AMI still carries imgbuild's pending tags: %v", tags)
				}
			}
			if !tt.wantRemoved {
				// The other build's AMI is pending for this run too.
				awsclient.DeleteImage(ctx, ec2For(t, "us-east-1"), dup, true)
			}
			assertNoLeftovers(t, env.RunUUID, "us-east-1")
		})
	}
}

// imageTags returns the tags of AMI id.
func imageTags(ctx context.Context, t *testing.T, c *ec2.Client, id string) map[string]string {
	t.Helper()
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("describing AMI %s: %v", id, err)
	}
	return awsclient.Tags(out.Images[0].Tags)
}

// copyImage copies keep within region under name, as a retried CopyImage
// does on moto (which ignores ClientToken and TagSpecifications).
func copyImage(ctx context.Context, t *testing.T, c *ec2.Client, region, keep, name string) string {
	t.Helper()
	out, err := c.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String(keep), SourceRegion: aws.String(region), Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ImageId)
}

// The real cause, end to end: moto's answer to a create is cut by a reset
// after moto made the resource, the SDK retries the call, and moto (which
// ignores ClientToken) makes a second one. The retry carries the same
// ClientToken where the API has one (AWS would return the first result);
// the build removes the extra and ends with one AMI per region.
func TestCreateRetriedAfterAResetAnswerLeavesNoDuplicate(t *testing.T) {
	for _, tt := range []struct {
		action    string
		withToken bool
	}{{"RunInstances", true}, {"CreateImage", false}, {"CopyImage", true}} {
		t.Run(tt.action, func(t *testing.T) {
			motoEnv(t)
			rec := &ec2Recorder{cutOnce: tt.action}
			c := baseConfig(t, "reset")
			c.CustomEndpointEC2 = rec.start(t)
			regions := []string{"us-east-1"}
			if tt.action == "CopyImage" {
				c.AMIRegions = []string{"us-west-2"}
				regions = append(regions, "us-west-2")
			}
			art, env, ui, err := buildWithoutProvisioning(t, c, "reset")
			removeAMIs(t, art)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			calls := rec.params(tt.action)
			if len(calls) != 2 {
				t.Fatalf("%d %s calls, want 2 (the SDK retries the cut answer)", len(calls), tt.action)
			}
			if tok := calls[0].Get("ClientToken"); tt.withToken && (tok == "" || tok != calls[1].Get("ClientToken")) {
				t.Errorf("ClientTokens %q and %q, want one token for both tries", tok, calls[1].Get("ClientToken"))
			}
			if !strings.Contains(ui.String(), "duplicate") {
				t.Errorf("the build did not remove the retry's duplicate:\n%s", ui.String())
			}
			for _, region := range regions {
				if imgs := imagesNamed(t, region, c.AMIName); len(imgs) != 1 {
					t.Errorf("%d AMIs named %s in %s, want 1", len(imgs), c.AMIName, region)
				}
			}
			assertNoLeftovers(t, env.RunUUID, regions...)
		})
	}
}

// Key pairs and security groups have no ClientToken: EC2 refuses a second
// one of the same name. When the first try's answer was cut, the SDK's
// retry gets "Duplicate", which the build takes as its own creation (the
// run's tag says so) and goes on; nothing is left afterwards.
func TestCreateByNameRetriedAfterAResetAnswerAdoptsTheFirstTry(t *testing.T) {
	for _, action := range []string{"ImportKeyPair", "CreateSecurityGroup"} {
		t.Run(action, func(t *testing.T) {
			motoEnv(t)
			rec := &ec2Recorder{cutOnce: action}
			c := baseConfig(t, "reset-name")
			c.CustomEndpointEC2 = rec.start(t)
			c.Config = communicator.Config{SSHUsername: "nobody", SSHHost: "127.0.0.1", TemporaryKeyPairType: "ed25519",
				TemporaryKeyPairName: "imgbuild-test-" + uuid.NewString()}
			b := prepared(t, c)
			env, _ := newEnv(t, "reset-name")
			defer assertNoLeftovers(t, env.RunUUID, "us-east-1") // also when the build failed
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			env.Steps.BeforeStep = func(ctx context.Context, step string) error {
				if step == "instance" { // the key pair and the group exist: enough
					cancel()
					return context.Cause(ctx)
				}
				return nil
			}
			if _, err := b.Run(ctx, env); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v, want the test's cancellation after the %s retry was adopted", err, action)
			}
			if n := len(rec.params(action)); n != 2 {
				t.Errorf("%d %s calls, want 2 (the SDK retries the cut answer)", n, action)
			}
		})
	}
}

// A delete whose answer was cut is retried by the SDK, and EC2 answers the
// retry that the AMI is no longer available (InvalidAMIID.Unavailable):
// the AMI is gone, which is what the delete asked for.
func TestDeleteRetriedAfterAResetAnswerSucceeds(t *testing.T) {
	motoEnv(t)
	rec := &ec2Recorder{cutOnce: "DeregisterImage"}
	c := baseConfig(t, "reset-delete")
	c.CustomEndpointEC2 = rec.start(t)
	art, env, _, err := buildWithoutProvisioning(t, c, "reset-delete")
	if err != nil {
		removeAMIs(t, art)
		t.Fatalf("Run: %v", err)
	}
	if err := art.Destroy(context.Background()); err != nil {
		removeAMIs(t, art)
		t.Fatalf("Destroy: %v", err)
	}
	if n := len(rec.params("DeregisterImage")); n != 2 {
		t.Errorf("%d DeregisterImage calls, want 2 (the SDK retries the cut answer)", n)
	}
	if imgs := imagesNamed(t, "us-east-1", c.AMIName); len(imgs) != 0 {
		t.Errorf("%d AMIs named %s after Destroy, want none", len(imgs), c.AMIName)
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
}
