package amazonebs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// ec2TrustPolicy lets EC2 instances assume the temporary role.
const ec2TrustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// stepInstanceProfile settles the instance profile the instance is
// launched with. iam_instance_profile is used as given, once IAM says it
// exists (unless skip_profile_validation); otherwise, with
// temporary_iam_instance_profile_policy_document, a temporary role with
// that inline policy is put in a temporary instance profile, both removed
// when the build ends. Sets instanceProfile.
func stepInstanceProfile(ctx context.Context, s *state) (steps.Cleanup, error) {
	c := s.cfg
	switch {
	case c.IAMInstanceProfile != "":
		s.instanceProfile = c.IAMInstanceProfile
		if c.SkipProfileValidation {
			return nil, nil
		}
		_, err := s.iamClient().GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(c.IAMInstanceProfile)})
		if awsclient.IsNotFound(err) {
			return nil, fmt.Errorf("iam_instance_profile %q does not exist: create it first or correct the name (skip_profile_validation = true launches without this check)", c.IAMInstanceProfile)
		}
		if err != nil {
			return nil, fmt.Errorf("checking iam_instance_profile %q: %w (skip_profile_validation = true launches without this check)", c.IAMInstanceProfile, awsclient.Explain(err))
		}
		return nil, nil
	case c.TemporaryIAMInstanceProfilePolicyDoc == nil:
		return nil, nil
	}
	policy, err := policyJSON(c.TemporaryIAMInstanceProfilePolicyDoc)
	if err != nil {
		return nil, err
	}
	tags, err := s.iamTags()
	if err != nil {
		return nil, err
	}
	// One name for the profile, the role and its policy, as Packer does.
	name := awsclient.TemporaryIAMPrefix + uuid.NewString()
	client := s.iamClient()
	// Both are recorded before the calls: a crash during one must not
	// leave an unrecorded resource.
	if err := s.record(awsclient.KindInstanceProfile, name, s.region); err != nil {
		return nil, err
	}
	if err := s.record(awsclient.KindRole, name, s.region); err != nil {
		return nil, err
	}
	cleanup := func(ctx context.Context) error {
		s.say("Deleting temporary instance profile and role %s...", name)
		// Each is tried: one that stays is in the ledger for cleanup.
		perr := awsclient.DeleteInstanceProfile(ctx, client, name)
		if perr == nil {
			s.forget(awsclient.KindInstanceProfile, name, s.region)
		}
		rerr := awsclient.DeleteRole(ctx, client, name)
		if rerr == nil {
			s.forget(awsclient.KindRole, name, s.region)
		}
		return errors.Join(perr, rerr)
	}
	s.say("Creating temporary instance profile %s...", name)
	_, err = client.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(name), Tags: tags})
	if err = createdOrOurs(err); err != nil {
		return cleanup, fmt.Errorf("creating instance profile %s: %w", name, awsclient.Explain(err))
	}
	s.say("Creating temporary role %s...", name)
	_, err = client.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(name),
		Description:              aws.String("Temporary role for imgbuild " + s.env.Name),
		AssumeRolePolicyDocument: aws.String(ec2TrustPolicy),
		Tags:                     tags,
	})
	if err = createdOrOurs(err); err != nil {
		return cleanup, fmt.Errorf("creating role %s: %w", name, awsclient.Explain(err))
	}
	_, err = client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(name), PolicyName: aws.String(name), PolicyDocument: aws.String(policy)})
	if err != nil {
		return cleanup, fmt.Errorf("temporary_iam_instance_profile_policy_document: IAM refused the policy: %w", awsclient.Explain(err))
	}
	_, err = client.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{
		RoleName: aws.String(name), InstanceProfileName: aws.String(name)})
	// LimitExceeded: the profile holds its one role already, from the
	// first try of a call the SDK retried.
	if err != nil && awsclient.Code(err) != "LimitExceeded" {
		return cleanup, fmt.Errorf("putting role %s in instance profile %s: %w", name, name, awsclient.Explain(err))
	}
	s.instanceProfile = name
	return cleanup, nil
}

// createdOrOurs drops EntityAlreadyExists: the name is this build's own
// (a fresh UUID), so the SDK retried a call whose answer was lost and the
// first try created it.
func createdOrOurs(err error) error {
	var exists *iamtypes.EntityAlreadyExistsException
	if errors.As(err, &exists) {
		return nil
	}
	return err
}

// policyJSON is the policy document as IAM reads it; fields the template
// leaves out are left out.
func policyJSON(d *PolicyDocument) (string, error) {
	type statement struct {
		Effect   string   `json:"Effect,omitempty"`
		Action   []string `json:"Action,omitempty"`
		Resource []string `json:"Resource,omitempty"`
	}
	doc := struct {
		Version   string      `json:"Version,omitempty"`
		Statement []statement `json:"Statement"`
	}{Version: d.Version, Statement: []statement{}}
	for _, st := range d.Statement {
		doc.Statement = append(doc.Statement, statement(st))
	}
	b, err := json.Marshal(doc)
	return string(b), err
}

// iamTags are run_tags and the run's own tags, as IAM takes them.
func (s *state) iamTags() ([]iamtypes.Tag, error) {
	runTags, err := renderMap(s.cfg.RunTags, s.generated, s.now)
	if err != nil {
		return nil, fmt.Errorf("run_tags: %w", err)
	}
	var out []iamtypes.Tag
	for _, t := range tagList(runTags, s.runTags()...) {
		out = append(out, iamtypes.Tag{Key: t.Key, Value: t.Value})
	}
	return out, nil
}

// iamClient is made on first use: most builds never call IAM.
func (s *state) iamClient() *iam.Client {
	if s.iam == nil {
		s.iam = s.cfg.AccessConfig.IAM(s.awsCfg)
	}
	return s.iam
}
