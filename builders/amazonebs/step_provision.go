package amazonebs

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	sshcomm "github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// stepProvision connects over SSH and runs the build's provisioners.
func stepProvision(ctx context.Context, s *state) (steps.Cleanup, error) {
	c := s.cfg
	if s.env.Provision == nil {
		return nil, nil
	}
	if c.Type == communicator.TypeNone {
		return nil, s.env.Provision(ctx, nil, s.generated)
	}
	host := s.generated["Host"]
	s.say("Waiting for SSH on %s:%d (at most %s)...", host, c.SSHPort, c.SSHTimeout)
	comm, err := sshcomm.Connect(ctx, &c.Config, host, c.SSHPort, s.ui)
	if err != nil {
		return nil, fmt.Errorf("connecting to instance %s over SSH: %w", s.instanceID, err)
	}
	defer closeComm(comm)
	s.say("Connected to %s over SSH", host)
	if err := s.env.Provision(ctx, comm, s.generated); err != nil {
		return nil, err
	}
	// Only a temporary key pair is ours to remove (Packer's rule).
	if pub := s.generated["SSHPublicKey"]; c.SSHClearAuthorizedKeys && pub != "" {
		if err := sshcomm.ClearAuthorizedKeys(ctx, comm, pub); err != nil {
			return nil, fmt.Errorf("ssh_clear_authorized_keys: %w", err)
		}
	}
	return nil, nil
}

func closeComm(comm any) {
	if cl, ok := comm.(io.Closer); ok {
		cl.Close()
	}
}

// stepStop stops the instance so its volumes are consistent for the
// snapshot (unless disable_stop_instance: the provisioners stopped it).
func stepStop(ctx context.Context, s *state) (steps.Cleanup, error) {
	if s.cfg.SkipCreateAMI {
		return nil, nil
	}
	bound := s.wait(10 * time.Minute)
	if !s.cfg.DisableStopInstance {
		s.say("Stopping instance %s...", s.instanceID)
		// An instance still settling after boot may refuse to stop.
		_, err := s.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{s.instanceID}},
			awsclient.RetryOn(2*time.Minute, awsclient.InstanceNotYetVisible, "IncorrectInstanceState", "IncorrectState"))
		if err != nil {
			return nil, fmt.Errorf("stopping instance %s: %w", s.instanceID, awsclient.Explain(err))
		}
	} else {
		s.say("Waiting for the provisioners to stop instance %s (disable_stop_instance)...", s.instanceID)
	}
	w := ec2.NewInstanceStoppedWaiter(s.ec2, func(o *ec2.InstanceStoppedWaiterOptions) { o.MinDelay = time.Second })
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{s.instanceID}}, bound); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for instance %s to stop: %w", s.instanceID, context.Cause(ctx))
		}
		return nil, fmt.Errorf("instance %s did not stop within %s: %w", s.instanceID, bound, err)
	}
	return nil, s.modifyStoppedInstance(ctx)
}

// modifyStoppedInstance sets ena_support and sriov_support on the stopped
// instance, so that the AMI made from it carries them.
func (s *state) modifyStoppedInstance(ctx context.Context) error {
	if e := s.cfg.ENASupport; e != nil {
		s.say("Setting ena_support = %v on instance %s...", *e, s.instanceID)
		_, err := s.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(s.instanceID), EnaSupport: &types.AttributeBooleanValue{Value: e}})
		if err != nil {
			return fmt.Errorf("setting ena_support on instance %s: %w", s.instanceID, awsclient.Explain(err))
		}
	}
	if s.cfg.SriovSupport {
		s.say("Setting sriov_support on instance %s...", s.instanceID)
		_, err := s.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(s.instanceID), SriovNetSupport: &types.AttributeValue{Value: aws.String("simple")}})
		if err != nil {
			return fmt.Errorf("setting sriov_support on instance %s: %w", s.instanceID, awsclient.Explain(err))
		}
	}
	return nil
}
