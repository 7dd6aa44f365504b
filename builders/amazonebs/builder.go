package amazonebs

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// BuilderID is Packer's artifact id for amazon-ebs AMIs.
const BuilderID = "mitchellh.amazonebs"

func init() {
	plugin.RegisterBuilder("amazon-ebs", func() plugin.Builder { return &Builder{} })
	// The kinds of resource this builder records in the ledger, for cleanup.
	ledger.Register(awsclient.Cleaner)
}

// Builder bakes an AMI: it launches an instance from a source AMI,
// provisions it over SSH, stops it and snapshots it into a new AMI.
type Builder struct {
	cfg Config
	// LedgerPath overrides the resource ledger's file (tests); "" means
	// the user's state directory.
	LedgerPath string

	// checkIPURL replaces checkip.amazonaws.com (tests).
	checkIPURL string
	// beforeDuplicateCheck is handed to the steps (tests only).
	beforeDuplicateCheck func(ctx context.Context, c *ec2.Client, region, keep string)
}

// Config returns the source block's configuration struct.
func (b *Builder) Config() any { return &b.cfg }

// Prepare fills defaults and checks the configuration offline.
func (b *Builder) Prepare() ([]string, error) { return b.cfg.Prepare() }

// GeneratedKeys are the build.* values amazon-ebs adds.
func (b *Builder) GeneratedKeys() []string {
	return []string{"BuildRegion", "SourceAMI", "SourceAMICreationDate", "SourceAMIDescription",
		"SourceAMIName", "SourceAMIOwner", "SourceAMIOwnerName"}
}

// Run builds the AMI. Every resource it creates is tagged with the run's
// UUID and written to the ledger before the build relies on it; the step
// runner removes them on failure, timeout and cancellation.
func (b *Builder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	l, err := ledger.Open(b.LedgerPath)
	if err != nil {
		return nil, err
	}
	runID := env.RunUUID
	if runID == "" {
		runID = uuid.NewString()
	}
	s := &state{cfg: &b.cfg, env: env, ui: env.UI, now: time.Now(), runID: runID, buildID: uuid.NewString(), ledger: l,
		endpoint: endpointInUse(&b.cfg.AccessConfig), beforeDuplicateCheck: b.beforeDuplicateCheck, checkIPURL: b.checkIPURL}
	opts := env.StepOptions()
	// Deleting AMIs, snapshots and instances can take AWS minutes.
	opts.CleanupTimeout = 10 * time.Minute
	err = steps.Run(ctx, s, opts,
		steps.Step[state]{Name: "resolve", Run: stepResolve},
		steps.Step[state]{Name: "key pair", Run: stepKeyPair},
		steps.Step[state]{Name: "security group", Run: stepSecurityGroup},
		steps.Step[state]{Name: "instance profile", Run: stepInstanceProfile},
		steps.Step[state]{Name: "instance", Run: stepRunInstance},
		steps.Step[state]{Name: "wait", Run: stepWaitRunning},
		steps.Step[state]{Name: "provision", Run: stepProvision},
		steps.Step[state]{Name: "stop", Run: stepStop},
		steps.Step[state]{Name: "image", Run: stepCreateImage},
		steps.Step[state]{Name: "copy", Run: stepCopyImage},
		steps.Step[state]{Name: "share", Run: stepShare},
		steps.Step[state]{Name: "finish", Run: stepFinish},
	)
	if err != nil {
		return nil, err
	}
	if b.cfg.SkipCreateAMI {
		env.UI.Say("skip_create_ami is set: no AMI was created")
		return nil, nil
	}
	return &Artifact{amis: s.amis, generated: s.generated, access: &b.cfg.AccessConfig}, nil
}

// say prints a headline (the UI adds the build name).
func (s *state) say(format string, args ...any) { s.ui.Say(fmt.Sprintf(format, args...)) }
