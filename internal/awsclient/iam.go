package awsclient

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// The ledger kinds of the temporary IAM resources amazon-ebs makes for
// temporary_iam_instance_profile_policy_document. IAM is global: the
// ledger's region is only the one the client was made for. The ID is the
// resource's name.
const (
	KindInstanceProfile = "iam-instance-profile"
	KindRole            = "iam-role"
)

// TemporaryIAMPrefix starts the name of every temporary role and instance
// profile, as Packer's do: account policies often allow iam:CreateRole on
// role/packer-* alone.
const TemporaryIAMPrefix = "packer-"

// IAM returns an IAM client for cfg. IAM has no endpoint option in
// Packer's templates: AWS_ENDPOINT_URL_IAM (or AWS_ENDPOINT_URL) names
// another one, as the SDK reads them.
func (c *AccessConfig) IAM(cfg aws.Config) *iam.Client {
	return iam.NewFromConfig(cfg)
}

// DeleteInstanceProfile takes every role out of the instance profile
// called name, then deletes it. A profile already gone is not an error.
func DeleteInstanceProfile(ctx context.Context, c *iam.Client, name string) error {
	out, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading instance profile %s: %w", name, Explain(err))
	}
	for _, r := range out.InstanceProfile.Roles {
		_, err := c.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{
			InstanceProfileName: aws.String(name), RoleName: r.RoleName})
		if err != nil && !IsNotFound(err) {
			return fmt.Errorf("taking role %s out of instance profile %s: %w", aws.ToString(r.RoleName), name, Explain(err))
		}
	}
	_, err = c.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting instance profile %s: %w", name, Explain(err))
	}
	return nil
}

// DeleteRole deletes the role called name with what IAM requires gone
// first: its inline policies, its attached policies and its place in
// instance profiles. A role already gone is not an error.
func DeleteRole(ctx context.Context, c *iam.Client, name string) error {
	role := aws.String(name)
	profiles := iam.NewListInstanceProfilesForRolePaginator(c, &iam.ListInstanceProfilesForRoleInput{RoleName: role})
	for profiles.HasMorePages() {
		page, err := profiles.NextPage(ctx)
		if IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the instance profiles of role %s: %w", name, Explain(err))
		}
		for _, p := range page.InstanceProfiles {
			_, err := c.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{
				InstanceProfileName: p.InstanceProfileName, RoleName: role})
			if err != nil && !IsNotFound(err) {
				return fmt.Errorf("taking role %s out of instance profile %s: %w", name, aws.ToString(p.InstanceProfileName), Explain(err))
			}
		}
	}
	inline := iam.NewListRolePoliciesPaginator(c, &iam.ListRolePoliciesInput{RoleName: role})
	for inline.HasMorePages() {
		page, err := inline.NextPage(ctx)
		if IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the policies of role %s: %w", name, Explain(err))
		}
		for _, p := range page.PolicyNames {
			_, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: role, PolicyName: aws.String(p)})
			if err != nil && !IsNotFound(err) {
				return fmt.Errorf("deleting policy %s of role %s: %w", p, name, Explain(err))
			}
		}
	}
	attached := iam.NewListAttachedRolePoliciesPaginator(c, &iam.ListAttachedRolePoliciesInput{RoleName: role})
	for attached.HasMorePages() {
		page, err := attached.NextPage(ctx)
		if IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the policies attached to role %s: %w", name, Explain(err))
		}
		for _, p := range page.AttachedPolicies {
			_, err := c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: role, PolicyArn: p.PolicyArn})
			if err != nil && !IsNotFound(err) {
				return fmt.Errorf("detaching policy %s from role %s: %w", aws.ToString(p.PolicyArn), name, Explain(err))
			}
		}
	}
	_, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: role})
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("deleting role %s: %w", name, Explain(err))
	}
	return nil
}

// iamExists reports whether the role or instance profile called name is
// still there.
func iamExists(ctx context.Context, c *iam.Client, kind, name string) (bool, error) {
	var err error
	switch kind {
	case KindInstanceProfile:
		_, err = c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	case KindRole:
		_, err = c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	default:
		return false, fmt.Errorf("%s is not an IAM kind", kind)
	}
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// removeIAM deletes a temporary role or instance profile.
func removeIAM(ctx context.Context, c *iam.Client, kind, name string) error {
	switch kind {
	case KindInstanceProfile:
		return DeleteInstanceProfile(ctx, c, name)
	case KindRole:
		return DeleteRole(ctx, c, name)
	}
	return fmt.Errorf("%s is not an IAM kind", kind)
}

func isIAM(kind string) bool { return kind == KindInstanceProfile || kind == KindRole }

// findTaggedIAM lists the temporary roles and instance profiles (named
// TemporaryIAMPrefix*) that carry TagRun, of run ("" for any run). IAM
// lists carry no tags, so each candidate's are read: only names with the
// prefix are candidates.
func findTaggedIAM(ctx context.Context, c *iam.Client, run string) ([]Leftover, error) {
	match := func(tags []iamtypes.Tag) (string, bool) {
		for _, t := range tags {
			if aws.ToString(t.Key) == TagRun && (run == "" || aws.ToString(t.Value) == run) {
				return aws.ToString(t.Value), true
			}
		}
		return "", false
	}
	var out []Leftover
	roles := iam.NewListRolesPaginator(c, &iam.ListRolesInput{})
	for roles.HasMorePages() {
		page, err := roles.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Roles {
			name := aws.ToString(r.RoleName)
			if !strings.HasPrefix(name, TemporaryIAMPrefix) {
				continue
			}
			tags, err := c.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: r.RoleName})
			if IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if owner, ok := match(tags.Tags); ok {
				out = append(out, Leftover{Kind: KindRole, ID: name, Run: owner})
			}
		}
	}
	profiles := iam.NewListInstanceProfilesPaginator(c, &iam.ListInstanceProfilesInput{})
	for profiles.HasMorePages() {
		page, err := profiles.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range page.InstanceProfiles {
			name := aws.ToString(p.InstanceProfileName)
			if !strings.HasPrefix(name, TemporaryIAMPrefix) {
				continue
			}
			// GetInstanceProfile carries the tags (where
			// ListInstanceProfileTags is missing, as in emulators).
			got, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: p.InstanceProfileName})
			if IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if owner, ok := match(got.InstanceProfile.Tags); ok {
				out = append(out, Leftover{Kind: KindInstanceProfile, ID: name, Run: owner})
			}
		}
	}
	return out, nil
}
