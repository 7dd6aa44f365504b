package amazonebs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// motoEnv points the SDK at the moto server with dummy credentials and
// gives the test its own ledger folder.
func motoEnv(t *testing.T) {
	t.Helper()
	testenv.UseMoto(t)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
}

// ec2For returns a client on moto for region.
func ec2For(t *testing.T, region string) *ec2.Client {
	t.Helper()
	var ac awsclient.AccessConfig
	cfg, err := ac.Load(context.Background(), region)
	if err != nil {
		t.Fatal(err)
	}
	return ac.EC2(cfg)
}

// baseConfig is a minimal valid amazon-ebs source on moto, with a name
// prefix of the test's own so that tests do not see each other's AMIs.
func baseConfig(t *testing.T, prefix string) *Config {
	t.Helper()
	return &Config{
		AccessConfig: awsclient.AccessConfig{Region: "us-east-1"},
		AMIConfig: AMIConfig{
			AMIName:        prefix + "-" + uuid.NewString()[:8],
			AMIDescription: "built by " + prefix,
		},
		RunConfig: RunConfig{
			InstanceType: "t2.micro",
			SourceAMIFilter: &awsclient.AMIFilter{
				Filters:    map[string]string{"name": "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"},
				Owners:     []string{"099720109477"},
				MostRecent: true,
			},
		},
		Config: communicator.Config{Type: "none"},
	}
}

// testUI records what the builder says.
type testUI struct {
	t  testing.TB
	mu sync.Mutex
	b  strings.Builder
}

func (u *testUI) line(prefix, m string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintf(&u.b, "%s%s\n", prefix, m)
	u.t.Log(prefix + m)
}
func (u *testUI) Say(m string)                                                           { u.line("==> ", m) }
func (u *testUI) Message(m string)                                                       { u.line("    ", m) }
func (u *testUI) Error(m string)                                                         { u.line("!!! ", m) }
func (u *testUI) Stdout() plugin.WriteCloser                                             { return nopWC{u} }
func (u *testUI) Stderr() plugin.WriteCloser                                             { return nopWC{u} }
func (u *testUI) String() string                                                         { u.mu.Lock(); defer u.mu.Unlock(); return u.b.String() }
func (u *testUI) TrackProgress(_ string, _ int64, r plugin.ReadCloser) plugin.ReadCloser { return r }

type nopWC struct{ u *testUI }

func (w nopWC) Write(p []byte) (int, error) {
	w.u.line("    ", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
func (w nopWC) Close() error { return nil }

func newEnv(t *testing.T, name string) (*plugin.BuildEnv, *testUI) {
	ui := &testUI{t: t}
	return &plugin.BuildEnv{UI: ui, Name: "amazon-ebs." + name, SourceName: name, RunUUID: uuid.NewString()}, ui
}

// prepared runs Prepare and fails the test on error.
func prepared(t *testing.T, c *Config) *Builder {
	t.Helper()
	b := &Builder{cfg: *c}
	if _, err := b.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return b
}

// buildWithoutProvisioning runs a build of c (named name) whose
// provisioning does nothing, for tests of what the builder asks of EC2.
func buildWithoutProvisioning(t *testing.T, c *Config, name string) (plugin.Artifact, *plugin.BuildEnv, *testUI, error) {
	t.Helper()
	b := prepared(t, c)
	env, ui := newEnv(t, name)
	env.Provision = func(context.Context, communicator.Communicator, plugin.GeneratedData) error { return nil }
	art, err := b.Run(context.Background(), env)
	return art, env, ui, err
}

// leftovers lists, by asking moto, every temporary resource of run that
// still exists in region: live instances, key pairs, security groups, and
// AMIs or snapshots still marked pending. It finds them through their tags
// (DescribeTags), then checks each still exists: moto filters thousands of
// default snapshots slowly, but its tag index quickly.
func leftovers(t *testing.T, region, run string) []string {
	t.Helper()
	ctx := context.Background()
	c := ec2For(t, region)
	var out []string
	for _, key := range []string{TagRun, TagPendingRun} {
		p := ec2.NewDescribeTagsPaginator(c, &ec2.DescribeTagsInput{Filters: []types.Filter{
			{Name: aws.String("key"), Values: []string{key}}, {Name: aws.String("value"), Values: []string{run}},
		}})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range page.Tags {
				if l := stillThere(t, ctx, c, tag.ResourceType, aws.ToString(tag.ResourceId)); l != "" {
					out = append(out, l)
				}
			}
		}
	}
	return out
}

// stillThere describes a tagged resource by id: "" when it is gone (or an
// instance is terminated), else what it is.
func stillThere(t *testing.T, ctx context.Context, c *ec2.Client, rt types.ResourceType, id string) string {
	t.Helper()
	var n int
	var err error
	switch rt {
	case types.ResourceTypeInstance:
		var o *ec2.DescribeInstancesOutput
		if o, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}); err == nil {
			for _, r := range o.Reservations {
				for _, i := range r.Instances {
					if i.State.Name != types.InstanceStateNameTerminated {
						return "instance " + id + " " + string(i.State.Name)
					}
				}
			}
		}
	case types.ResourceTypeKeyPair:
		// moto keeps a deleted key pair's tags, and answers a lookup of
		// its id with the other key pairs: only the id itself counts.
		var o *ec2.DescribeKeyPairsOutput
		if o, err = c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyPairIds: []string{id}}); err == nil {
			for _, k := range o.KeyPairs {
				if aws.ToString(k.KeyPairId) == id {
					n++
				}
			}
		}
	case types.ResourceTypeSecurityGroup:
		var o *ec2.DescribeSecurityGroupsOutput
		if o, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}}); err == nil {
			n = len(o.SecurityGroups)
		}
	case types.ResourceTypeImage:
		var o *ec2.DescribeImagesOutput
		if o, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}); err == nil {
			n = len(o.Images)
		}
	case types.ResourceTypeSnapshot:
		var o *ec2.DescribeSnapshotsOutput
		if o, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}}); err == nil {
			n = len(o.Snapshots)
		}
	default:
		return "" // volumes go with their instance
	}
	if err != nil && !awsclient.IsNotFound(err) {
		t.Fatalf("looking up %s %s: %v", rt, id, err)
	}
	if n == 0 {
		return ""
	}
	return string(rt) + " " + id
}

func assertNoLeftovers(t *testing.T, run string, regions ...string) {
	t.Helper()
	for _, r := range regions {
		if l := leftovers(t, r, run); len(l) > 0 {
			t.Errorf("run %s left resources in %s: %v", run, r, l)
		}
	}
}

// imagesNamed returns the AMIs called name in region.
func imagesNamed(t *testing.T, region, name string) []types.Image {
	t.Helper()
	out, err := ec2For(t, region).DescribeImages(context.Background(), &ec2.DescribeImagesInput{
		Owners: []string{"self"}, Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Images
}

// removeAMIs deletes what a successful test built.
func removeAMIs(t *testing.T, a plugin.Artifact) {
	t.Helper()
	if a == nil {
		return
	}
	t.Cleanup(func() {
		if err := a.Destroy(context.Background()); err != nil {
			t.Errorf("removing the test's AMIs: %v", err)
		}
	})
}
