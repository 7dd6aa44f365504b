package amazonebs

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	sshcomm "github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// stepKeyPair makes the temporary key pair the instance is launched with,
// unless the template names its own (ssh_keypair_name) or brings its own
// private key. Sets keyName and the communicator's private key.
func stepKeyPair(ctx context.Context, s *state) (steps.Cleanup, error) {
	c := s.cfg
	switch {
	case c.Type != communicator.TypeSSH:
		return nil, nil
	case c.SSHKeyPairName != "":
		s.keyName = c.SSHKeyPairName
		return nil, s.loadPrivateKeyFile()
	case c.SSHPrivateKeyFile != "" || c.SSHPassword != "" || c.SSHAgentAuth:
		return nil, s.loadPrivateKeyFile()
	}
	name := c.TemporaryKeyPairName
	generatedName := name == ""
	if generatedName {
		name = "packer_" + uuid.NewString()
	}
	kp, err := sshcomm.GenerateKeyPair(c.TemporaryKeyPairType, c.TemporaryKeyPairBits, name)
	if err != nil {
		return nil, err
	}
	// Recorded before the call: the name is known, and a crash during the
	// call must not leave an unrecorded key pair.
	if err := s.record(awsclient.KindKeyPair, name, s.region); err != nil {
		return nil, err
	}
	s.say("Creating temporary key pair %s...", name)
	cleanup := func(ctx context.Context) error {
		s.say("Deleting temporary key pair %s...", name)
		_, err := s.ec2.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(name)})
		if err != nil && !awsclient.IsNotFound(err) {
			return fmt.Errorf("deleting key pair %s: %w", name, err)
		}
		s.forget(awsclient.KindKeyPair, name, s.region)
		return nil
	}
	_, err = s.ec2.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{
		KeyName:           aws.String(name),
		PublicKeyMaterial: []byte(kp.AuthorizedKey),
		TagSpecifications: []types.TagSpecification{tagSpec(types.ResourceTypeKeyPair, s.runTags())},
	})
	if awsclient.Code(err) == "InvalidKeyPair.Duplicate" {
		if generatedName || s.keyPairIsOurs(ctx, name) {
			// Our unique name, or our build's tag: the SDK retried a call
			// whose answer was lost, and the first try created it.
			err = nil
		} else {
			// Someone else's key pair: leave it alone.
			s.forget(awsclient.KindKeyPair, name, s.region)
			return nil, fmt.Errorf("a key pair named %q already exists in %s: change temporary_key_pair_name, or leave it unset for a unique name", name, s.region)
		}
	}
	if err != nil {
		return cleanup, fmt.Errorf("importing key pair %s: %w", name, awsclient.Explain(err))
	}
	s.keyName = name
	c.SSHPrivateKey = kp.PrivateKeyPEM
	s.generated["SSHPublicKey"] = kp.AuthorizedKey
	s.generated["SSHPrivateKey"] = string(kp.PrivateKeyPEM)
	return cleanup, nil
}

func (s *state) loadPrivateKeyFile() error {
	if s.cfg.SSHPrivateKeyFile == "" {
		return nil
	}
	b, err := os.ReadFile(s.cfg.SSHPrivateKeyFile)
	if err != nil {
		return fmt.Errorf("ssh_private_key_file: %w", err)
	}
	s.generated["SSHPrivateKey"] = string(b)
	return nil
}

// keyPairIsOurs reports whether the key pair called name carries this
// build's tag (the ledger already lists it: it was recorded before the call).
func (s *state) keyPairIsOurs(ctx context.Context, name string) bool {
	out, err := s.ec2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: []types.Filter{
		{Name: aws.String("key-name"), Values: []string{name}},
		s.buildFilter(),
	}})
	return err == nil && len(out.KeyPairs) == 1
}
