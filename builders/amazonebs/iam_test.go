package amazonebs

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

// iamFor returns an IAM client on moto.
func iamFor(t *testing.T) *iam.Client {
	t.Helper()
	var ac awsclient.AccessConfig
	cfg, err := ac.Load(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return ac.IAM(cfg)
}

// iamLeftovers lists the roles and instance profiles tagged with run, by
// reading every role's and profile's tags.
func iamLeftovers(t *testing.T, run string) []string {
	t.Helper()
	ctx := context.Background()
	c := iamFor(t)
	tagged := func(key, value *string) bool { return aws.ToString(key) == TagRun && aws.ToString(value) == run }
	var out []string
	roles := iam.NewListRolesPaginator(c, &iam.ListRolesInput{})
	for roles.HasMorePages() {
		page, err := roles.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Roles {
			tags, err := c.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: r.RoleName})
			if err != nil {
				continue // deleted meanwhile by another test
			}
			for _, tg := range tags.Tags {
				if tagged(tg.Key, tg.Value) {
					out = append(out, "role "+aws.ToString(r.RoleName))
				}
			}
		}
	}
	profiles := iam.NewListInstanceProfilesPaginator(c, &iam.ListInstanceProfilesInput{})
	for profiles.HasMorePages() {
		page, err := profiles.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.InstanceProfiles {
			for _, tg := range p.Tags {
				if tagged(tg.Key, tg.Value) {
					out = append(out, "instance profile "+aws.ToString(p.InstanceProfileName))
				}
			}
		}
	}
	return out
}

func logsPolicy() *PolicyDocument {
	return &PolicyDocument{Version: "2012-10-17", Statement: []Statement{{Effect: "Allow", Action: []string{"logs:*"}, Resource: []string{"*"}}}}
}

// The instance runs with a temporary instance profile whose role holds
// the template's policy (and the run's tags and run_tags); both are gone
// when the build ends.
func TestTemporaryInstanceProfileCarriesThePolicyAndGoesWithTheBuild(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "tmpprofile")
	c.TemporaryIAMInstanceProfilePolicyDoc = logsPolicy()
	c.RunTags = map[string]string{"team": "images"}
	b := prepared(t, c)
	env, _ := newEnv(t, "tmpprofile")
	ec2c, iamc := ec2For(t, "us-east-1"), iamFor(t)
	var profile string
	env.Provision = func(ctx context.Context, _ communicator.Communicator, data plugin.GeneratedData) error {
		out, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{data["ID"]}})
		if err != nil {
			return err
		}
		ip := out.Reservations[0].Instances[0].IamInstanceProfile
		if ip == nil {
			return errors.New("the instance has no instance profile")
		}
		arn := aws.ToString(ip.Arn)
		profile = arn[strings.LastIndex(arn, "/")+1:]
		got, err := iamc.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(profile)})
		if err != nil {
			return err
		}
		if n := len(got.InstanceProfile.Roles); n != 1 {
			return errors.New("the instance profile does not hold exactly one role")
		}
		role := got.InstanceProfile.Roles[0].RoleName
		pol, err := iamc.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: role, PolicyName: role})
		if err != nil {
			return err
		}
		doc, _ := url.QueryUnescape(aws.ToString(pol.PolicyDocument))
		var parsed struct {
			Version   string
			Statement []struct {
				Effect   string
				Action   []string
				Resource []string
			}
		}
		if err := json.Unmarshal([]byte(doc), &parsed); err != nil {
			return err
		}
		if parsed.Version != "2012-10-17" || len(parsed.Statement) != 1 || parsed.Statement[0].Action[0] != "logs:*" || parsed.Statement[0].Resource[0] != "*" {
			t.Errorf("role policy = %s, want the template's document", doc)
		}
		tags, err := iamc.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: role})
		if err != nil {
			return err
		}
		want := map[string]string{TagRun: env.RunUUID, "team": "images"}
		for _, tg := range tags.Tags {
			if want[aws.ToString(tg.Key)] == aws.ToString(tg.Value) {
				delete(want, aws.ToString(tg.Key))
			}
		}
		if len(want) > 0 {
			t.Errorf("role tags %v lack %v", tags.Tags, want)
		}
		return nil
	}
	art, err := b.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	removeAMIs(t, art)
	if !strings.HasPrefix(profile, "packer-") {
		t.Fatalf("instance profile %q, want a temporary packer-* one", profile)
	}
	if _, err := iamc.GetInstanceProfile(context.Background(), &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(profile)}); !awsclient.IsNotFound(err) {
		t.Errorf("after the build, instance profile %s: %v, want it gone", profile, err)
	}
	if _, err := iamc.GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String(profile)}); !awsclient.IsNotFound(err) {
		t.Errorf("after the build, role %s: %v, want it gone", profile, err)
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
	if l := iamLeftovers(t, env.RunUUID); len(l) > 0 {
		t.Errorf("the build left %v", l)
	}
}

// A build that fails after the profile was made removes it too, and a
// policy IAM refuses fails the build with the option's name.
func TestFailedBuildsRemoveTheirTemporaryInstanceProfile(t *testing.T) {
	motoEnv(t)
	t.Run("provisioning fails", func(t *testing.T) {
		c := baseConfig(t, "tmpprofilefail")
		c.TemporaryIAMInstanceProfilePolicyDoc = logsPolicy()
		b := prepared(t, c)
		env, _ := newEnv(t, "tmpprofilefail")
		env.Provision = func(context.Context, communicator.Communicator, plugin.GeneratedData) error {
			if l := iamLeftovers(t, env.RunUUID); len(l) != 2 {
				t.Errorf("while provisioning, the run's IAM resources are %v, want a role and an instance profile", l)
			}
			return errors.New("provisioner failed")
		}
		if _, err := b.Run(context.Background(), env); err == nil {
			t.Fatal("the build did not fail")
		}
		assertNoLeftovers(t, env.RunUUID, "us-east-1")
		if l := iamLeftovers(t, env.RunUUID); len(l) > 0 {
			t.Errorf("the failed build left %v", l)
		}
	})
	t.Run("policy refused", func(t *testing.T) {
		c := baseConfig(t, "tmpprofilebad")
		c.TemporaryIAMInstanceProfilePolicyDoc = &PolicyDocument{Version: "1999-01-01", Statement: []Statement{{Effect: "Maybe"}}}
		b := prepared(t, c)
		env, _ := newEnv(t, "tmpprofilebad")
		_, err := b.Run(context.Background(), env)
		if err == nil || !strings.Contains(err.Error(), "temporary_iam_instance_profile_policy_document") {
			t.Fatalf("err = %v, want IAM's refusal naming the option", err)
		}
		if l := iamLeftovers(t, env.RunUUID); len(l) > 0 {
			t.Errorf("the failed build left %v", l)
		}
	})
}

// iam_instance_profile must name a profile IAM knows, checked before
// anything is launched, unless skip_profile_validation; an existing one
// is what the instance runs with.
func TestIAMInstanceProfileIsCheckedAndUsed(t *testing.T) {
	motoEnv(t)
	ctx := context.Background()
	t.Run("missing", func(t *testing.T) {
		c := baseConfig(t, "noprofile")
		c.IAMInstanceProfile = "imgbuild-test-no-such-profile"
		b := prepared(t, c)
		env, _ := newEnv(t, "noprofile")
		_, err := b.Run(ctx, env)
		if err == nil || !strings.Contains(err.Error(), `iam_instance_profile "imgbuild-test-no-such-profile" does not exist`) ||
			!strings.Contains(err.Error(), "skip_profile_validation") {
			t.Fatalf("err = %v, want a missing-profile error naming skip_profile_validation", err)
		}
		if l := leftovers(t, "us-east-1", env.RunUUID); len(l) > 0 {
			t.Errorf("the refused build left %v", l)
		}
	})
	t.Run("existing", func(t *testing.T) {
		iamc := iamFor(t)
		name := "imgbuild-test-profile-" + strings.ReplaceAll(t.Name(), "/", "-")
		if _, err := iamc.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { awsclient.DeleteInstanceProfile(context.Background(), iamc, name) })
		c := baseConfig(t, "withprofile")
		c.IAMInstanceProfile = name
		c.TemporaryIAMInstanceProfilePolicyDoc = logsPolicy() // ignored, as by Packer
		b := prepared(t, c)
		env, _ := newEnv(t, "withprofile")
		var used string
		env.Provision = func(ctx context.Context, _ communicator.Communicator, data plugin.GeneratedData) error {
			out, err := ec2For(t, "us-east-1").DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{data["ID"]}})
			if err == nil && out.Reservations[0].Instances[0].IamInstanceProfile != nil {
				used = aws.ToString(out.Reservations[0].Instances[0].IamInstanceProfile.Arn)
			}
			return err
		}
		art, err := b.Run(ctx, env)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		removeAMIs(t, art)
		if !strings.HasSuffix(used, "/"+name) {
			t.Errorf("the instance ran with profile %q, want %s", used, name)
		}
		if l := iamLeftovers(t, env.RunUUID); len(l) > 0 {
			t.Errorf("a build with iam_instance_profile made %v", l)
		}
	})
}

// With the ledger lost (another machine's run), cleanup --all still finds
// a run's temporary role and instance profile by their run tag, and only
// when asked: without --all and with no IAM entry in the ledger it reads
// no IAM at all.
func TestCleanupAllFindsTemporaryIAMByTag(t *testing.T) {
	motoEnv(t)
	ctx := context.Background()
	iamc := iamFor(t)
	run := uuid.NewString()
	name := awsclient.TemporaryIAMPrefix + uuid.NewString()
	tags := []iamtypes.Tag{{Key: aws.String(TagRun), Value: aws.String(run)}}
	if _, err := iamc.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(name), Tags: tags}); err != nil {
		t.Fatal(err)
	}
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(ec2TrustPolicy), Tags: tags}); err != nil {
		t.Fatal(err)
	}
	if _, err := iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("p"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := iamc.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{RoleName: aws.String(name), InstanceProfileName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open("")
	if err != nil {
		t.Fatal(err)
	}
	quiet := &awsclient.Sweeper{Ledger: l, Regions: []string{"us-east-1"}}
	if found, err := quiet.Find(ctx, run, nil); err != nil || len(found) > 0 {
		t.Fatalf("without --all: found %v, %v; want nothing", found, err)
	}
	sw := &awsclient.Sweeper{Ledger: l, Regions: []string{"us-east-1"}, SearchIAM: true}
	found, err := sw.Find(ctx, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range found {
		got = append(got, f.Kind+" "+f.ID+" by "+f.Found)
		if err := sw.Remove(ctx, f); err != nil {
			t.Error(err)
		}
	}
	want := []string{"iam-instance-profile " + name + " by tag", "iam-role " + name + " by tag"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("found %v, want %v", got, want)
	}
	if l := iamLeftovers(t, run); len(l) > 0 {
		t.Errorf("cleanup left %v", l)
	}
}
