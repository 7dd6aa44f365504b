package amazonebs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

// TestAmazonEBSJSONExampleAndItsUpgradeBuildTheSameAMIs builds
// examples/amazon-ebs.json (the legacy twin of amazon-ebs.pkr.hcl) and what
// hcl2_upgrade makes of it against moto: each makes an AMI in both regions,
// with the source AMI's id and name in its tags and description.
func TestAmazonEBSJSONExampleAndItsUpgradeBuildTheSameAMIs(t *testing.T) {
	motoEnv(t)
	bin := testenv.Binary(t)
	srv := sshd.Start(t)
	work := t.TempDir()
	example := filepath.Join(testenv.RepoRoot(), "examples", "amazon-ebs.json")
	upgraded := filepath.Join(work, "amazon-ebs.pkr.hcl")
	if out, err := exec.Command(bin, "hcl2_upgrade", "-output-file", upgraded, example).CombinedOutput(); err != nil {
		t.Fatalf("hcl2_upgrade: %v\n%s", err, out)
	}
	for name, tmpl := range map[string]string{"json": example, "upgraded": upgraded} {
		amiName := "example-" + name + "-" + uuid.NewString()[:8]
		cmd := exec.Command(bin, "build", "-var", "ami_name="+amiName, "-var", "ssh_host=127.0.0.1",
			"-var", "ssh_port="+strconv.Itoa(srv.Port), "-var", "ssh_username="+sshd.User,
			"-var", "manifest="+filepath.Join(work, name+"-manifest.json"), tmpl)
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		east, west := imagesNamed(t, "us-east-1", amiName), imagesNamed(t, "us-west-2", amiName)
		t.Cleanup(func() {
			for _, img := range east {
				awsclient.DeleteImage(context.Background(), ec2For(t, "us-east-1"), *img.ImageId, true)
			}
			for _, img := range west {
				awsclient.DeleteImage(context.Background(), ec2For(t, "us-west-2"), *img.ImageId, true)
			}
		})
		if err != nil {
			t.Fatalf("%s build: %v\n%s", name, err, out)
		}
		if len(east) != 1 || len(west) != 1 {
			t.Fatalf("%s: AMIs named %s: %d in us-east-1, %d in us-west-2; want one each", name, amiName, len(east), len(west))
		}
		tags := map[string]string{}
		for _, tag := range east[0].Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		if !strings.HasPrefix(tags["SourceAMI"], "ami-") || !strings.HasPrefix(tags["SourceName"], "ubuntu/images/hvm-ssd/ubuntu-xenial") ||
			tags["Name"] != "imgbuild-example" {
			t.Errorf("%s: AMI tags %v", name, tags)
		}
		if d := aws.ToString(east[0].Description); d != "Ubuntu from "+tags["SourceName"]+", baked by imgbuild" {
			t.Errorf("%s: description %q", name, d)
		}
		if !strings.Contains(string(out), "building from "+tags["SourceAMI"]+" in us-east-1") {
			t.Errorf("%s: the provisioner did not see build.SourceAMI and build.BuildRegion:\n%s", name, out)
		}
		if _, err := os.Stat(filepath.Join(work, name+"-manifest.json")); err != nil {
			t.Errorf("%s: no manifest: %v", name, err)
		}
	}
}
