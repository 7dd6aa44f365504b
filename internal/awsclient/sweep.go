package awsclient

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/imgbuild/imgbuild/internal/ledger"
)

// Tag keys the amazon-ebs builder puts on what it creates (see
// builders/amazonebs): temporary resources carry TagRun, unfinished AMIs
// and snapshots carry TagPendingRun.
const (
	TagRun        = "imgbuild:run"
	TagPendingRun = "imgbuild:pending-run"
)

// The ledger kinds of the resources the amazon-ebs builder records.
const (
	KindInstance      = "instance"
	KindKeyPair       = "key-pair" // ID is the key pair's name
	KindSecurityGroup = "security-group"
	KindImage         = "image"
	KindSnapshot      = "snapshot"
	// KindLaunchTemplate is a spot build's launch template; ID is its name.
	KindLaunchTemplate = "launch-template"
)

// Kinds are the ledger kinds of AWS resources, in removal order: instances
// first (they hold the key pair, the group, the instance profile and the
// volumes), then images before their snapshots.
var Kinds = []string{KindInstance, KindLaunchTemplate, KindImage, KindSnapshot, KindSecurityGroup, KindKeyPair, KindInstanceProfile, KindRole}

func isAWS(kind string) bool { return kindOrder[kind] > 0 }

var kindOrder = func() map[string]int {
	m := map[string]int{}
	for i, k := range Kinds {
		m[k] = i + 1
	}
	return m
}()

// Leftover is a resource a run left behind.
type Leftover struct {
	Kind     string // Kind*
	ID       string
	Region   string
	Endpoint string
	Run      string
	Found    string // "ledger" or "tag"
}

// key tells leftovers apart: IAM resources are global, the others
// regional.
func (l Leftover) key() string {
	if isIAM(l.Kind) {
		return l.Kind + "/" + l.ID
	}
	return l.Kind + "/" + l.Region + "/" + l.ID
}

func (l Leftover) String() string {
	if isIAM(l.Kind) {
		return fmt.Sprintf("%s %s (run %s, found by %s)", l.Kind, l.ID, l.Run, l.Found)
	}
	return fmt.Sprintf("%s %s in %s (run %s, found by %s)", l.Kind, l.ID, l.Region, l.Run, l.Found)
}

// Sweeper finds and removes leftovers. Credentials come from the standard
// chain; the region and endpoint of each resource from the ledger.
type Sweeper struct {
	Ledger *ledger.Ledger
	// Regions to search by tag besides those in the ledger.
	Regions []string
	// SearchIAM: also search IAM by tag when the ledger names no IAM
	// resource (cleanup --all, after the ledger was lost).
	SearchIAM  bool
	clients    map[string]*ec2.Client
	iamClients map[string]*iam.Client
}

func (s *Sweeper) client(ctx context.Context, region, endpoint string) (*ec2.Client, error) {
	key := region + "|" + endpoint
	if c, ok := s.clients[key]; ok {
		return c, nil
	}
	ac := AccessConfig{CustomEndpointEC2: endpoint}
	cfg, err := ac.Load(ctx, region)
	if err != nil {
		return nil, err
	}
	if s.clients == nil {
		s.clients = map[string]*ec2.Client{}
	}
	c := ac.EC2(cfg)
	s.clients[key] = c
	return c, nil
}

// iamFor returns an IAM client made for region (IAM is global; the region
// only picks the partition).
func (s *Sweeper) iamFor(ctx context.Context, region string) (*iam.Client, error) {
	if c, ok := s.iamClients[region]; ok {
		return c, nil
	}
	var ac AccessConfig
	cfg, err := ac.Load(ctx, region)
	if err != nil {
		return nil, err
	}
	if s.iamClients == nil {
		s.iamClients = map[string]*iam.Client{}
	}
	c := ac.IAM(cfg)
	s.iamClients[region] = c
	return c, nil
}

// exists reports whether the resource of a ledger entry is still there.
func (s *Sweeper) exists(ctx context.Context, e ledger.Entry) (bool, error) {
	if isIAM(e.Kind) {
		c, err := s.iamFor(ctx, e.Region)
		if err != nil {
			return false, err
		}
		return iamExists(ctx, c, e.Kind, e.ID)
	}
	c, err := s.client(ctx, e.Region, e.Endpoint)
	if err != nil {
		return false, err
	}
	return stillThere(ctx, c, e.Kind, e.ID)
}

// Find lists what run ("" for every run) left: first the ledger's
// outstanding entries that still exist, then resources carrying the run
// tags in the regions the ledger or Regions name. skipRun, when set,
// excludes runs (builds still in progress).
func (s *Sweeper) Find(ctx context.Context, run string, skipRun func(string) bool) ([]Leftover, error) {
	entries, err := s.Ledger.Read()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []Leftover
	type place struct{ region, endpoint string }
	places := map[place]bool{}
	for _, r := range s.Regions {
		places[place{r, ""}] = true
	}
	// IAM is searched by tag only when asked or where the ledger says a
	// run made IAM resources: many users may not list IAM at all.
	iamRegion := ""
	if s.SearchIAM {
		iamRegion = "us-east-1"
		if len(s.Regions) > 0 {
			iamRegion = s.Regions[0]
		}
	}
	for _, e := range entries {
		if isAWS(e.Kind) && (run == "" || e.Run == run) {
			if isIAM(e.Kind) {
				iamRegion = e.Region
				continue
			}
			places[place{e.Region, e.Endpoint}] = true
		}
	}
	for _, e := range ledger.Outstanding(entries, run) {
		if !isAWS(e.Kind) || (skipRun != nil && skipRun(e.Run)) {
			continue
		}
		exists, err := s.exists(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("checking %s %s in %s: %w", e.Kind, e.ID, e.Region, Explain(err))
		}
		if !exists {
			_ = s.Ledger.Append(ledger.Entry{Run: e.Run, Action: ledger.Deleted, Kind: e.Kind, ID: e.ID, Region: e.Region, Endpoint: e.Endpoint})
			continue
		}
		l := Leftover{Kind: e.Kind, ID: e.ID, Region: e.Region, Endpoint: e.Endpoint, Run: e.Run, Found: "ledger"}
		seen[l.key()] = true
		out = append(out, l)
	}
	ps := make([]place, 0, len(places))
	for p := range places {
		if p.region != "" {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].region+ps[i].endpoint < ps[j].region+ps[j].endpoint })
	addTagged := func(tagged []Leftover, region, endpoint string) {
		for _, l := range tagged {
			l.Region, l.Endpoint, l.Found = region, endpoint, "tag"
			if seen[l.key()] || (skipRun != nil && skipRun(l.Run)) {
				continue
			}
			seen[l.key()] = true
			out = append(out, l)
		}
	}
	for _, p := range ps {
		c, err := s.client(ctx, p.region, p.endpoint)
		if err != nil {
			return nil, err
		}
		tagged, err := findTagged(ctx, c, run)
		if err != nil {
			return nil, fmt.Errorf("searching %s for tagged leftovers: %w", p.region, Explain(err))
		}
		addTagged(tagged, p.region, p.endpoint)
	}
	if iamRegion != "" {
		c, err := s.iamFor(ctx, iamRegion)
		if err != nil {
			return nil, err
		}
		tagged, err := findTaggedIAM(ctx, c, run)
		if err != nil {
			return nil, fmt.Errorf("searching IAM for tagged leftovers: %w", Explain(err))
		}
		addTagged(tagged, iamRegion, "")
	}
	sort.SliceStable(out, func(i, j int) bool { return kindOrder[out[i].Kind] < kindOrder[out[j].Kind] })
	return out, nil
}

func stillThere(ctx context.Context, c *ec2.Client, kind, id string) (bool, error) {
	var err error
	switch kind {
	case KindInstance:
		var out *ec2.DescribeInstancesOutput
		out, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err == nil {
			for _, r := range out.Reservations {
				for _, i := range r.Instances {
					if i.State != nil && i.State.Name != types.InstanceStateNameTerminated {
						return true, nil
					}
				}
			}
			return false, nil
		}
	case KindKeyPair:
		var out *ec2.DescribeKeyPairsOutput
		out, err = c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{id}})
		if err == nil {
			return len(out.KeyPairs) > 0, nil
		}
	case KindSecurityGroup:
		var out *ec2.DescribeSecurityGroupsOutput
		out, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
		if err == nil {
			return len(out.SecurityGroups) > 0, nil
		}
	case KindLaunchTemplate:
		var out *ec2.DescribeLaunchTemplatesOutput
		out, err = c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{id}})
		if err == nil {
			return len(out.LaunchTemplates) > 0, nil
		}
	case KindImage:
		var out *ec2.DescribeImagesOutput
		out, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if err == nil {
			return len(out.Images) > 0, nil
		}
	case KindSnapshot:
		var out *ec2.DescribeSnapshotsOutput
		out, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		if err == nil {
			return len(out.Snapshots) > 0, nil
		}
	default:
		return false, fmt.Errorf("unknown resource kind %q in the ledger", kind)
	}
	if IsNotFound(err) {
		return false, nil
	}
	return false, err
}

func tagFilter(key, run string) []types.Filter {
	if run == "" {
		return []types.Filter{{Name: aws.String("tag-key"), Values: []string{key}}}
	}
	return []types.Filter{{Name: aws.String("tag:" + key), Values: []string{run}}}
}

func findTagged(ctx context.Context, c *ec2.Client, run string) ([]Leftover, error) {
	var out []Leftover
	insts, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: tagFilter(TagRun, run)})
	if err != nil {
		return nil, err
	}
	for _, r := range insts.Reservations {
		for _, i := range r.Instances {
			if i.State != nil && i.State.Name != types.InstanceStateNameTerminated {
				out = append(out, Leftover{Kind: KindInstance, ID: aws.ToString(i.InstanceId), Run: Tags(i.Tags)[TagRun]})
			}
		}
	}
	kps, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: tagFilter(TagRun, run)})
	if err != nil {
		return nil, err
	}
	for _, k := range kps.KeyPairs {
		out = append(out, Leftover{Kind: KindKeyPair, ID: aws.ToString(k.KeyName), Run: Tags(k.Tags)[TagRun]})
	}
	sgs, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: tagFilter(TagRun, run)})
	if err != nil {
		return nil, err
	}
	for _, g := range sgs.SecurityGroups {
		out = append(out, Leftover{Kind: KindSecurityGroup, ID: aws.ToString(g.GroupId), Run: Tags(g.Tags)[TagRun]})
	}
	// Only spot builds make launch templates: credentials that may not
	// list them skip this search.
	lts, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: tagFilter(TagRun, run)})
	switch {
	case err == nil:
		for _, lt := range lts.LaunchTemplates {
			out = append(out, Leftover{Kind: KindLaunchTemplate, ID: aws.ToString(lt.LaunchTemplateName), Run: Tags(lt.Tags)[TagRun]})
		}
	case Code(err) != "UnauthorizedOperation":
		return nil, err
	}
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: tagFilter(TagPendingRun, run)})
	if err != nil {
		return nil, err
	}
	for _, i := range imgs.Images {
		out = append(out, Leftover{Kind: KindImage, ID: aws.ToString(i.ImageId), Run: Tags(i.Tags)[TagPendingRun]})
	}
	snaps, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: tagFilter(TagPendingRun, run)})
	if err != nil {
		return nil, err
	}
	for _, sn := range snaps.Snapshots {
		out = append(out, Leftover{Kind: KindSnapshot, ID: aws.ToString(sn.SnapshotId), Run: Tags(sn.Tags)[TagPendingRun]})
	}
	return out, nil
}

// Remove deletes one leftover and notes it in the ledger.
func (s *Sweeper) Remove(ctx context.Context, l Leftover) error {
	if isIAM(l.Kind) {
		c, err := s.iamFor(ctx, l.Region)
		if err == nil {
			err = removeIAM(ctx, c, l.Kind, l.ID)
		}
		if err != nil {
			return fmt.Errorf("removing %s: %w", l, err)
		}
		return s.Ledger.Append(ledger.Entry{Run: l.Run, Action: ledger.Deleted, Kind: l.Kind, ID: l.ID, Region: l.Region, Endpoint: l.Endpoint})
	}
	c, err := s.client(ctx, l.Region, l.Endpoint)
	if err != nil {
		return err
	}
	switch l.Kind {
	case KindInstance:
		_, err = c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{l.ID}})
		if err == nil {
			w := ec2.NewInstanceTerminatedWaiter(c, func(o *ec2.InstanceTerminatedWaiterOptions) { o.MinDelay = time.Second })
			err = w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{l.ID}}, 10*time.Minute)
		}
	case KindKeyPair:
		_, err = c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(l.ID)})
	case KindLaunchTemplate:
		err = DeleteLaunchTemplate(ctx, c, l.ID)
	case KindSecurityGroup:
		// The instance may still be shutting down.
		_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(l.ID)}, RetryOn(3*time.Minute, "DependencyViolation"))
	case KindImage:
		_, err = DeleteImage(ctx, c, l.ID, true)
	case KindSnapshot:
		err = DeleteSnapshot(ctx, c, l.ID)
	default:
		err = errors.New("unknown kind")
	}
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("removing %s: %w", l, Explain(err))
	}
	return s.Ledger.Append(ledger.Entry{Run: l.Run, Action: ledger.Deleted, Kind: l.Kind, ID: l.ID, Region: l.Region, Endpoint: l.Endpoint})
}

// Cleaner is the registration of the AWS kinds with the ledger (made by
// builders/amazonebs, which records them): cleanup searches the regions
// the ledger names, those asked for and AWS_REGION, with the credentials
// of the usual chain.
var Cleaner = ledger.Cleaner{
	Name:  "AWS resources (instances, launch templates, key pairs, security groups, temporary IAM roles and instance profiles, unfinished AMIs and snapshots)",
	Kinds: Kinds,
	Find:  findForCleanup,
}

func findForCleanup(ctx context.Context, q ledger.Query) ([]ledger.Leftover, error) {
	regions := q.Regions
	var ac AccessConfig
	if r := ac.ResolvedRegion(); r != "" {
		regions = append(regions, r)
	}
	sw := &Sweeper{Ledger: q.Ledger, Regions: regions, SearchIAM: q.All}
	found, err := sw.Find(ctx, q.Run, q.Skip)
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Leftover, 0, len(found))
	for _, f := range found {
		out = append(out, ledger.Leftover{What: f.String(), Remove: func(ctx context.Context) error { return sw.Remove(ctx, f) }})
	}
	return out, nil
}
