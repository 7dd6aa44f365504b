package amazonebs

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

// Tags imgbuild puts on what it creates, so that `imgbuild cleanup` can
// find leftovers even when the ledger missed them (a crash between the
// API call and the ledger write).
const (
	// TagRun marks a temporary resource (instance, volume, key pair,
	// security group) with the run's UUID.
	TagRun = awsclient.TagRun
	// TagPendingRun marks an AMI or snapshot that is not yet a finished
	// artifact; it is removed when the build succeeds.
	TagPendingRun = awsclient.TagPendingRun
	// TagBuild names the build, for people reading the console.
	TagBuild = "imgbuild:build"
	// TagBuildID marks what one build (one source of one run) creates,
	// with an id of its own: builds of one run share TagRun, so the
	// duplicate sweeps and adoptions after a retried create look for
	// this tag, never another build's resources. It goes from the AMIs
	// with TagPendingRun when the build succeeds.
	TagBuildID = "imgbuild:build-id"
)

// state is what the steps share; each step documents what it sets.
type state struct {
	cfg   *Config
	env   *plugin.BuildEnv
	ui    plugin.UI
	now   time.Time
	runID string
	// buildID is this build's own id (TagBuildID): unique per Builder.Run.
	buildID string
	ledger  *ledger.Ledger

	awsCfg   aws.Config
	ec2      *ec2.Client
	region   string
	endpoint string

	// resolve
	source    types.Image
	amiName   string
	amiDesc   string
	subnetID  string
	vpcID     string
	az        string
	sgIDs     []string
	generated plugin.GeneratedData

	// checkIPURL answers with this machine's public address ("" means
	// checkip.amazonaws.com); sourceCIDR is that address as a /32, for
	// temporary_security_group_source_public_ip.
	checkIPURL string
	sourceCIDR string

	// key pair
	keyName string

	// instance profile: iam made on first use (iamClient)
	instanceProfile string
	iam             *iam.Client

	// instance
	instanceID string
	instance   types.Instance

	// image and copies, in creation order
	amis    []regionAMI
	success bool

	// beforeDuplicateCheck, when set (tests), runs just before the build
	// looks for what a retried create made besides the resource it got.
	beforeDuplicateCheck func(ctx context.Context, c *ec2.Client, region, keep string)
}

type regionAMI struct {
	Region string
	ID     string
}

func (s *state) entry(action, kind, id, region string) ledger.Entry {
	return ledger.Entry{Run: s.runID, Action: action, Kind: kind, ID: id, Region: region,
		Endpoint: s.endpoint, Profile: s.cfg.Profile, Build: s.env.Name, PID: os.Getpid(), Host: hostname()}
}

// record writes a created resource to the ledger. It must succeed before
// the build relies on the resource: without it, a crash could leak it.
func (s *state) record(kind, id, region string) error {
	if err := s.ledger.Append(s.entry(ledger.Created, kind, id, region)); err != nil {
		return fmt.Errorf("recording %s %s in the resource ledger: %w", kind, id, err)
	}
	return nil
}

// forget notes that a resource is gone (best effort: a stale Created entry
// only makes `imgbuild cleanup` look for something that is not there).
func (s *state) forget(kind, id, region string) {
	if err := s.ledger.Append(s.entry(ledger.Deleted, kind, id, region)); err != nil {
		s.ui.Error(fmt.Sprintf("updating the resource ledger: %v", err))
	}
}

func (s *state) keep(kind, id, region string) {
	if err := s.ledger.Append(s.entry(ledger.Kept, kind, id, region)); err != nil {
		s.ui.Error(fmt.Sprintf("updating the resource ledger: %v", err))
	}
}

// runTags are put on every temporary resource.
func (s *state) runTags() []types.Tag {
	return []types.Tag{
		{Key: aws.String(TagRun), Value: aws.String(s.runID)},
		{Key: aws.String(TagBuild), Value: aws.String(s.env.Name)},
		s.buildTag(),
	}
}

func (s *state) buildTag() types.Tag {
	return types.Tag{Key: aws.String(TagBuildID), Value: aws.String(s.buildID)}
}

// buildFilter matches what this build tagged.
func (s *state) buildFilter() types.Filter {
	return types.Filter{Name: aws.String("tag:" + TagBuildID), Values: []string{s.buildID}}
}

func tagList(m map[string]string, extra ...types.Tag) []types.Tag {
	out := make([]types.Tag, 0, len(m)+len(extra))
	for k, v := range m {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return append(out, extra...)
}

func tagSpec(rt types.ResourceType, tags []types.Tag) types.TagSpecification {
	return types.TagSpecification{ResourceType: rt, Tags: tags}
}

// clientFor returns an EC2 client for another region (ami_regions).
func (s *state) clientFor(ctx context.Context, region string) (*ec2.Client, error) {
	if region == s.region {
		return s.ec2, nil
	}
	cfg, err := s.cfg.AccessConfig.Load(ctx, region)
	if err != nil {
		return nil, err
	}
	return s.cfg.AccessConfig.EC2(cfg), nil
}

// wait bounds a wait by aws_polling, else def.
func (s *state) wait(def time.Duration) time.Duration {
	_, max := s.cfg.AccessConfig.WaitParams(def)
	return max
}

// endpointInUse is what the ledger records so that cleanup reaches the
// same EC2 endpoint (an emulator, a private endpoint) as the build.
func endpointInUse(c *awsclient.AccessConfig) string {
	for _, v := range []string{c.CustomEndpointEC2, os.Getenv("AWS_ENDPOINT_URL_EC2"), os.Getenv("AWS_ENDPOINT_URL")} {
		if v != "" {
			return v
		}
	}
	return ""
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
