package amazonebs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

// The whole flow: a filtered source AMI, the temporary key pair accepted by
// a local sshd standing in for the instance (moto's instances have no
// network), a command run through the communicator, an AMI with the
// expected name, description, tags and snapshot tags, a copy in a second
// region, and nothing temporary left.
func TestBuildOverSSHCreatesTaggedAMIAndCopyAndLeavesNothing(t *testing.T) {
	motoEnv(t)
	srv := sshd.Start(t)
	c := baseConfig(t, "sshbuild")
	c.AMIRegions = []string{"us-west-2"}
	c.Tags = map[string]string{"Name": "sshbuild", "Base": "{{ .SourceAMIName }}"}
	c.SnapshotTags = map[string]string{"Kind": "root-snapshot", "From": "{{ .SourceAMI }}"}
	c.RunTags = map[string]string{"Purpose": "test"}
	c.Config = communicator.Config{
		SSHHost: srv.Host, SSHPort: srv.Port, SSHUsername: sshd.User,
		TemporaryKeyPairType: "ed25519", SSHClearAuthorizedKeys: true,
	}
	b := prepared(t, c)
	env, _ := newEnv(t, "sshbuild")
	var ran string
	env.Provision = func(ctx context.Context, comm communicator.Communicator, data plugin.GeneratedData) error {
		var out bytes.Buffer
		st, err := comm.Run(ctx, &communicator.Cmd{Command: "echo provisioned as $(id -un) from " + data["SourceAMI"], Stdout: &out})
		if err != nil || st != 0 {
			t.Errorf("command over SSH: status %d, %v", st, err)
		}
		ran = strings.TrimSpace(out.String())
		// As cloud-init would: the temporary key in authorized_keys, next
		// to a key of the user's that ssh_clear_authorized_keys must keep.
		add := "mkdir -p ~/.ssh && echo '" + data["SSHPublicKey"] + "' >> ~/.ssh/authorized_keys && echo 'ssh-ed25519 AAAA keep-me-" + data["ID"] + "' >> ~/.ssh/authorized_keys"
		if st, err := comm.Run(ctx, &communicator.Cmd{Command: add}); err != nil || st != 0 {
			t.Errorf("writing authorized_keys: status %d, %v", st, err)
		}
		if data["SSHPublicKey"] == "" || !strings.HasPrefix(data["SSHPublicKey"], "ssh-ed25519 ") {
			t.Errorf("build.SSHPublicKey = %q, want the temporary ed25519 key", data["SSHPublicKey"])
		}
		return nil
	}
	art, err := b.Run(context.Background(), env)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	removeAMIs(t, art)
	gen := art.State("generated_data").(plugin.GeneratedData)
	src := gen["SourceAMI"]
	ak := filepath.Join("/home", sshd.User, ".ssh", "authorized_keys")
	keys, err := os.ReadFile(ak)
	os.Remove(ak)
	if err != nil {
		t.Errorf("reading %s: %v", ak, err)
	} else if strings.Contains(string(keys), gen["SSHPublicKey"]) || !strings.Contains(string(keys), "keep-me-"+gen["ID"]) {
		t.Errorf("ssh_clear_authorized_keys: authorized_keys is now %q; want the temporary key gone and the other kept", keys)
	}
	if want := "provisioned as " + sshd.User + " from " + src; ran != want {
		t.Errorf("provisioning printed %q, want %q", ran, want)
	}
	amis := art.(*Artifact).AMIs()
	if len(amis) != 2 || amis["us-east-1"] == "" || amis["us-west-2"] == "" {
		t.Fatalf("artifact AMIs = %v, want one in us-east-1 and one in us-west-2", amis)
	}
	if id := art.ID(); !strings.Contains(id, "us-east-1:"+amis["us-east-1"]) || !strings.Contains(id, "us-west-2:"+amis["us-west-2"]) {
		t.Errorf("artifact ID = %q", id)
	}
	for region, id := range amis {
		imgs := imagesNamed(t, region, c.AMIName)
		if len(imgs) != 1 || aws.ToString(imgs[0].ImageId) != id {
			t.Fatalf("%s: AMIs named %s = %d, want exactly %s", region, c.AMIName, len(imgs), id)
		}
		img := imgs[0]
		if d := aws.ToString(img.Description); d != c.AMIDescription {
			t.Errorf("%s: description = %q, want %q", region, d, c.AMIDescription)
		}
		tags := awsclient.Tags(img.Tags)
		if tags["Name"] != "sshbuild" || !strings.HasPrefix(tags["Base"], "ubuntu/images/") {
			t.Errorf("%s: AMI tags = %v", region, tags)
		}
		snaps := awsclient.ImageSnapshots(img)
		if len(snaps) == 0 {
			t.Fatalf("%s: AMI %s has no snapshot", region, id)
		}
		out, err := ec2For(t, region).DescribeSnapshots(context.Background(), &ec2.DescribeSnapshotsInput{SnapshotIds: snaps})
		if err != nil {
			t.Fatal(err)
		}
		for _, sn := range out.Snapshots {
			st := awsclient.Tags(sn.Tags)
			if st["Kind"] != "root-snapshot" || st["From"] != src {
				t.Errorf("%s: snapshot %s tags = %v", region, aws.ToString(sn.SnapshotId), st)
			}
		}
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1", "us-west-2")
	assertLedgerSettled(t, b)
}

// A provisioner that fails over SSH, and an interrupt while provisioning,
// both leave nothing behind.
func TestProvisioningFailureOrInterruptOverSSHLeavesNothing(t *testing.T) {
	for _, interrupt := range []bool{false, true} {
		name := "failing_command"
		if interrupt {
			name = "interrupt_while_provisioning"
		}
		t.Run(name, func(t *testing.T) {
			motoEnv(t)
			srv := sshd.Start(t)
			c := baseConfig(t, "sshfail")
			c.Config = communicator.Config{SSHHost: srv.Host, SSHPort: srv.Port, SSHUsername: sshd.User, TemporaryKeyPairType: "ed25519"}
			b := prepared(t, c)
			env, _ := newEnv(t, "sshfail")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			env.Provision = func(ctx context.Context, comm communicator.Communicator, _ plugin.GeneratedData) error {
				if interrupt {
					cancel()
					<-ctx.Done()
					return context.Cause(ctx)
				}
				st, err := comm.Run(ctx, &communicator.Cmd{Command: "exit 7"})
				if err != nil {
					return err
				}
				if st != 0 {
					return &exitErr{st}
				}
				return nil
			}
			_, err := b.Run(ctx, env)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			assertNoLeftovers(t, env.RunUUID, "us-east-1")
			if imgs := imagesNamed(t, "us-east-1", c.AMIName); len(imgs) > 0 {
				t.Errorf("a failed build created AMI %s", *imgs[0].ImageId)
			}
			assertLedgerSettled(t, b)
		})
	}
}

type exitErr struct{ status int }

func (e *exitErr) Error() string { return "script exited with status " + string(rune('0'+e.status)) }
