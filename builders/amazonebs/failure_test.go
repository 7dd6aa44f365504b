package amazonebs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

// An interrupt (Ctrl-C cancels the build's context) at any step boundary
// must leave no temporary resource and no unfinished AMI.
func TestInterruptAtEachStepBoundaryLeavesNothing(t *testing.T) {
	tests := []struct {
		step string
		ssh  bool // ssh makes a temporary key pair
	}{
		{"resolve", true},
		{"key pair", true},
		{"security group", true},
		{"instance", true},
		{"wait", true},
		{"provision", true},
		{"stop", false},
		{"image", false},
		{"copy", false},
		{"share", false},
		{"finish", false},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.step, " ", "_"), func(t *testing.T) {
			motoEnv(t)
			c := baseConfig(t, "sigint")
			c.AMIRegions = []string{"us-west-2"}
			if tt.ssh {
				c.Config = communicator.Config{SSHUsername: "nobody", SSHHost: "127.0.0.1", TemporaryKeyPairType: "ed25519"}
			}
			b := prepared(t, c)
			env, _ := newEnv(t, "sigint")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			env.Steps.BeforeStep = func(ctx context.Context, step string) error {
				if step == tt.step {
					cancel() // what the orchestrator does on SIGINT
					return context.Cause(ctx)
				}
				return nil
			}
			env.Provision = func(context.Context, communicator.Communicator, plugin.GeneratedData) error { return nil }
			_, err := b.Run(ctx, env)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v, want a cancellation", err)
			}
			assertNoLeftovers(t, env.RunUUID, "us-east-1", "us-west-2")
			if imgs := imagesNamed(t, "us-east-1", c.AMIName); len(imgs) > 0 {
				t.Errorf("an interrupted build left AMI %s", *imgs[0].ImageId)
			}
			if imgs := imagesNamed(t, "us-west-2", c.AMIName); len(imgs) > 0 {
				t.Errorf("an interrupted build left the copy %s", *imgs[0].ImageId)
			}
			assertLedgerSettled(t, b)
		})
	}
}

// assertLedgerSettled checks that the ledger has nothing outstanding:
// every resource the build recorded was removed or kept.
func assertLedgerSettled(t *testing.T, b *Builder) {
	t.Helper()
	l, err := ledger.Open(b.LedgerPath)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	if out := ledger.Outstanding(entries, ""); len(out) > 0 {
		t.Errorf("ledger still lists %d resource(s) as created: %+v", len(out), out)
	}
}

func TestFailingProvisionerLeavesNothing(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "provfail")
	b := prepared(t, c)
	env, _ := newEnv(t, "provfail")
	env.Provision = func(context.Context, communicator.Communicator, plugin.GeneratedData) error {
		return errors.New("script exited with status 3")
	}
	_, err := b.Run(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), "status 3") {
		t.Fatalf("Run = %v, want the provisioner's failure", err)
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
	if imgs := imagesNamed(t, "us-east-1", c.AMIName); len(imgs) > 0 {
		t.Errorf("a failed build created AMI %s", *imgs[0].ImageId)
	}
	assertLedgerSettled(t, b)
}

func TestForceDeregisterReplacesAnAMIOfTheSameNameAndItsAbsenceFailsEarly(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "forcedereg")
	first := prepared(t, c)
	env, _ := newEnv(t, "forcedereg")
	art, err := first.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("first build: %v", err)
	}
	oldID := art.(*Artifact).AMIs()["us-east-1"]

	// Without force_deregister: refused before anything is launched.
	again := prepared(t, c)
	env2, _ := newEnv(t, "forcedereg")
	launched := false
	env2.Steps.BeforeStep = func(_ context.Context, step string) error {
		if step == "instance" {
			launched = true
		}
		return nil
	}
	_, err = again.Run(context.Background(), env2)
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "force_deregister") {
		removeAMIs(t, art)
		t.Fatalf("second build without force_deregister = %v, want an already-exists error naming force_deregister", err)
	}
	if launched {
		t.Error("the build reached the instance step before refusing the name")
	}
	assertNoLeftovers(t, env2.RunUUID, "us-east-1")

	// With force_deregister: the old AMI is replaced.
	c.ForceDeregister = true
	c.ForceDeleteSnapshot = true
	forced := prepared(t, c)
	env3, _ := newEnv(t, "forcedereg")
	art3, err := forced.Run(context.Background(), env3)
	if err != nil {
		removeAMIs(t, art)
		t.Fatalf("build with force_deregister: %v", err)
	}
	removeAMIs(t, art3)
	imgs := imagesNamed(t, "us-east-1", c.AMIName)
	if len(imgs) != 1 || *imgs[0].ImageId == oldID {
		t.Fatalf("after force_deregister: AMIs named %s = %d (old %s), want exactly one new one", c.AMIName, len(imgs), oldID)
	}
	assertNoLeftovers(t, env3.RunUUID, "us-east-1")
}

// Mistakes a user makes first are reported in one actionable line before
// anything is created.
func TestConfigurationMistakesFailInOneLineBeforeAnythingIsCreated(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, c *Config)
		want   string
	}{
		{"no credentials", func(t *testing.T, c *Config) {
			t.Setenv("AWS_ACCESS_KEY_ID", "")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		}, "no AWS credentials found"},
		{"unknown profile", func(t *testing.T, c *Config) { c.Profile = "no-such-profile" }, `AWS profile "no-such-profile" does not exist`},
		{"unknown region", func(t *testing.T, c *Config) { c.Region = "xx-nowhere-9" }, `unknown AWS region "xx-nowhere-9"`},
		{"unknown ami_regions entry", func(t *testing.T, c *Config) { c.AMIRegions = []string{"xx-nowhere-8"} }, `unknown AWS region "xx-nowhere-8"`},
		{"filter matching nothing", func(t *testing.T, c *Config) {
			c.SourceAMIFilter.Filters["name"] = "nothing-is-called-this-*"
		}, "no AMI matches the filter"},
		{"unknown source_ami", func(t *testing.T, c *Config) {
			c.SourceAMIFilter, c.SourceAMI = nil, "ami-00000000deadbeef0"
		}, "does not exist"},
		{"subnet_filter matching nothing", func(t *testing.T, c *Config) {
			c.SubnetFilter = &SubnetFilterOptions{Filters: map[string]string{"tag:Environment": "no-such-env"}}
		}, "subnet_filter matched no subnet"},
		{"security_group_filter matching nothing", func(t *testing.T, c *Config) {
			c.SecurityGroupFilter = &FilterOptions{Filters: map[string]string{"group-name": "no-such-group-xyz"}}
		}, "security_group_filter matched no security group"},
		{"unknown instance type", func(t *testing.T, c *Config) { c.InstanceType = "t9.gigantic" }, `instance_type "t9.gigantic" does not exist`},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			motoEnv(t)
			c := baseConfig(t, "mistake")
			tt.change(t, c)
			b := prepared(t, c)
			env, _ := newEnv(t, "mistake")
			_, err := b.Run(context.Background(), env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			t.Setenv("AWS_ACCESS_KEY_ID", "testing") // for the checks below
			t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
			l, _ := ledger.Open(b.LedgerPath)
			if entries, _ := l.Read(); len(entries) > 0 {
				t.Errorf("something was created before the error: %+v", entries)
			}
			assertNoLeftovers(t, env.RunUUID, "us-east-1")
		})
	}
}
