package amazonebs

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

// The example template, through the real command line: the amazon-ami data
// source picks the source, aws_secretsmanager feeds a provisioner, a shell
// provisioner runs over SSH, the manifest lists both AMIs, and nothing
// temporary is left.
func TestCLIBuildOfTheExampleWithDataSourceAndSecret(t *testing.T) {
	motoEnv(t)
	bin := testenv.Binary(t)
	srv := sshd.Start(t)
	ctx := context.Background()

	var ac awsclient.AccessConfig
	awsCfg, err := ac.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	secretName := "imgbuild-cli-" + uuid.NewString()[:8]
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String(`{"greeting":"hello-from-secrets-manager"}`)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(secretName), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})

	dir := t.TempDir()
	amiName := "cli-example-" + uuid.NewString()[:8]
	// sshd runs the provisioner as the test user: the marker's folder must
	// be reachable and writable by it (t.TempDir's parents are not).
	markerDir, err := os.MkdirTemp("", "imgbuild-ebs-marker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(markerDir) })
	os.Chmod(markerDir, 0o777)
	marker := filepath.Join(markerDir, "marker")
	tpl := `
data "amazon-ami" "ubuntu" {
  filters     = { name = "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*" }
  owners      = ["099720109477"]
  most_recent = true
}
locals { greeting = aws_secretsmanager("` + secretName + `", "greeting") }
source "amazon-ebs" "x" {
  region                  = "us-east-1"
  source_ami              = data.amazon-ami.ubuntu.id
  instance_type           = "t3.micro"
  ami_name                = "` + amiName + `"
  ami_description         = "from ${data.amazon-ami.ubuntu.name}"
  ami_regions             = ["us-west-2"]
  ssh_host                = "127.0.0.1"
  ssh_port                = ` + strconv.Itoa(srv.Port) + `
  ssh_username            = "` + sshd.User + `"
  temporary_key_pair_type = "ed25519"
  tags          = { Name = "cli", Base = "{{ .SourceAMIName }}" }
  snapshot_tags = { Name = "cli-root" }
  temporary_iam_instance_profile_policy_document {
    Statement {
      Action   = ["logs:*"]
      Effect   = "Allow"
      Resource = ["*"]
    }
    Version = "2012-10-17"
  }
}
build {
  sources = ["source.amazon-ebs.x"]
  provisioner "shell" {
    inline = ["echo ${local.greeting} ${build.SourceAMI} > ` + marker + `"]
  }
  post-processor "manifest" {
    output = "` + filepath.Join(dir, "manifest.json") + `"
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("imgbuild build: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String() + stderr.String()
	if strings.Contains(out, "hello-from-secrets-manager") {
		t.Error("the secret appeared in the build's output")
	}
	east := imagesNamed(t, "us-east-1", amiName)
	west := imagesNamed(t, "us-west-2", amiName)
	t.Cleanup(func() {
		for _, img := range east {
			awsclient.DeleteImage(ctx, ec2For(t, "us-east-1"), *img.ImageId, true)
		}
		for _, img := range west {
			awsclient.DeleteImage(ctx, ec2For(t, "us-west-2"), *img.ImageId, true)
		}
	})
	if len(east) != 1 || len(west) != 1 {
		t.Fatalf("AMIs named %s: %d in us-east-1, %d in us-west-2; want one each\n%s", amiName, len(east), len(west), out)
	}
	src := ""
	if d := aws.ToString(east[0].Description); !strings.HasPrefix(d, "from ubuntu/images/hvm-ssd/ubuntu-xenial") {
		t.Errorf("description = %q, want the data source's AMI name", d)
	}
	b, err := os.ReadFile(marker)
	if err != nil {
		t.Fatalf("the shell provisioner did not run: %v\n%s", err, out)
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 || fields[0] != "hello-from-secrets-manager" || !strings.HasPrefix(fields[1], "ami-") {
		t.Errorf("provisioner wrote %q, want the secret and build.SourceAMI", b)
	}
	if len(fields) == 2 {
		src = fields[1]
	}
	var manifest struct {
		Builds []struct {
			ArtifactID  string            `json:"artifact_id"`
			BuilderType string            `json:"builder_type"`
			CustomData  map[string]string `json:"custom_data"`
		} `json:"builds"`
	}
	mb, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if err := json.Unmarshal(mb, &manifest); err != nil || len(manifest.Builds) != 1 {
		t.Fatalf("manifest %s: %v", mb, err)
	}
	if id := manifest.Builds[0].ArtifactID; id != "us-east-1:"+*east[0].ImageId+",us-west-2:"+*west[0].ImageId {
		t.Errorf("manifest artifact_id = %q", id)
	}
	// build.SourceAMI is the AMI the data source chose: the one whose name
	// the description quotes.
	if src != "" {
		imgs, err := ec2For(t, "us-east-1").DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{src}})
		if err != nil || len(imgs.Images) != 1 {
			t.Fatalf("describing build.SourceAMI %s: %v", src, err)
		}
		if name, want := aws.ToString(imgs.Images[0].Name), strings.TrimPrefix(aws.ToString(east[0].Description), "from "); name != want {
			t.Errorf("build.SourceAMI %s is %q, but the data source chose %q", src, name, want)
		}
	}
	run := runFromLedger(t)
	assertNoLeftovers(t, run, "us-east-1", "us-west-2")
	if l := iamLeftovers(t, run); len(l) > 0 {
		t.Errorf("the build left %v", l)
	}
	if !strings.Contains(out, "Creating temporary instance profile packer-") {
		t.Errorf("the build made no temporary instance profile:\n%s", out)
	}
}

// runFromLedger returns the run UUID the (single) build wrote to the ledger.
func runFromLedger(t *testing.T) string {
	t.Helper()
	p := filepath.Join(os.Getenv("XDG_STATE_HOME"), "imgbuild", "resources.jsonl")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("the build wrote no ledger: %v", err)
	}
	var e struct{ Run string }
	json.Unmarshal(bytes.SplitN(b, []byte("\n"), 2)[0], &e)
	if e.Run == "" {
		t.Fatal("ledger entry without a run")
	}
	return e.Run
}

// imgbuild cleanup, after a build was killed: --dry-run lists, then the
// real run removes, and a second run finds nothing.
func TestCLICleanupDryRunListsThenRemovesWhatAKilledBuildLeft(t *testing.T) {
	motoEnv(t)
	bin := testenv.Binary(t)
	srv := sshd.Start(t)
	run := uuid.NewString()
	ready := filepath.Join(t.TempDir(), "ready")
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperProcessBuild$", "-test.count=1")
	helper.Env = append(os.Environ(), "IMGBUILD_EBS_HELPER=1", "IMGBUILD_EBS_RUN="+run,
		"IMGBUILD_EBS_READY="+ready, "IMGBUILD_EBS_SSH_PORT="+strconv.Itoa(srv.Port))
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, ready, helper)
	helper.Process.Kill() // SIGKILL: no cleanup runs
	helper.Wait()

	cleanup := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"cleanup"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("imgbuild cleanup %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// Without --run: the runs in this ledger whose process is gone.
	dry := cleanup("--dry-run")
	for _, kind := range []string{"would remove instance", "would remove launch-template", "would remove security-group",
		"would remove key-pair", "would remove iam-instance-profile", "would remove iam-role"} {
		if !strings.Contains(dry, kind) || !strings.Contains(dry, run) {
			t.Errorf("--dry-run output lacks %q:\n%s", kind, dry)
		}
	}
	if l := leftovers(t, "us-east-1", run); len(l) < 3 {
		t.Fatalf("--dry-run removed something: left %v", l)
	}
	done := cleanup("--run", run)
	if strings.Count(done, "removed ") != 6 {
		t.Errorf("cleanup output:\n%s", done)
	}
	assertNoLeftovers(t, run, "us-east-1")
	if again := cleanup("--run", run); !strings.Contains(again, "Nothing to clean up") {
		t.Errorf("second cleanup:\n%s", again)
	}
}

// A real SIGINT to imgbuild build while a provisioner runs: the build
// stops, and the instance, key pair and security group are removed.
func TestCLISIGINTDuringProvisioningLeavesNothing(t *testing.T) {
	motoEnv(t)
	bin := testenv.Binary(t)
	srv := sshd.Start(t)
	markerDir, err := os.MkdirTemp("", "imgbuild-ebs-marker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(markerDir) })
	os.Chmod(markerDir, 0o777)
	marker := filepath.Join(markerDir, "started")
	amiName := "cli-sigint-" + uuid.NewString()[:8]
	dir := t.TempDir()
	tpl := `
source "amazon-ebs" "x" {
  region        = "us-east-1"
  source_ami_filter {
    filters     = { name = "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*" }
    owners      = ["099720109477"]
    most_recent = true
  }
  instance_type           = "t3.micro"
  ami_name                = "` + amiName + `"
  ssh_host                = "127.0.0.1"
  ssh_port                = ` + strconv.Itoa(srv.Port) + `
  ssh_username            = "` + sshd.User + `"
  temporary_key_pair_type = "ed25519"
}
build {
  sources = ["source.amazon-ebs.x"]
  provisioner "shell" {
    inline = ["touch ` + marker + `", "sleep 120"]
  }
}
`
	os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(tpl), 0o644)
	var out bytes.Buffer
	cmd := exec.Command(bin, "build", dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, marker, cmd)
	cmd.Process.Signal(os.Interrupt)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatalf("the interrupted build succeeded:\n%s", out.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("imgbuild did not stop within 2 minutes of SIGINT:\n%s", out.String())
	}
	run := runFromLedger(t)
	assertNoLeftovers(t, run, "us-east-1")
	if imgs := imagesNamed(t, "us-east-1", amiName); len(imgs) > 0 {
		t.Errorf("the interrupted build created AMI %s", *imgs[0].ImageId)
	}
	if strings.Contains(out.String(), "panic") {
		t.Errorf("output mentions a panic:\n%s", out.String())
	}
}

// examples/amazon-ebs.pkr.hcl builds as documented against the emulator.
func TestCLIBuildsTheShippedExample(t *testing.T) {
	motoEnv(t)
	bin := testenv.Binary(t)
	srv := sshd.Start(t)
	example := filepath.Join(testenv.RepoRoot(), "examples", "amazon-ebs.pkr.hcl")
	work := t.TempDir()
	cmd := exec.Command(bin, "build", "-var", "ssh_host=127.0.0.1", "-var", "ssh_port="+strconv.Itoa(srv.Port),
		"-var", "ssh_username="+sshd.User, example)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	mb, merr := os.ReadFile(filepath.Join(work, "amazon-ebs-manifest.json"))
	var manifest struct {
		Builds []struct {
			ArtifactID string `json:"artifact_id"`
		} `json:"builds"`
	}
	if merr == nil {
		json.Unmarshal(mb, &manifest)
	}
	for _, b := range manifest.Builds {
		for _, part := range strings.Split(b.ArtifactID, ",") {
			region, id, ok := strings.Cut(part, ":")
			if ok {
				t.Cleanup(func() { awsclient.DeleteImage(context.Background(), ec2For(t, region), id, true) })
			}
		}
	}
	if err != nil {
		t.Fatalf("imgbuild build %s: %v\n%s", example, err, out)
	}
	if len(manifest.Builds) != 1 || strings.Count(manifest.Builds[0].ArtifactID, "ami-") != 2 {
		t.Fatalf("manifest %s (%v): want one build with an AMI in each of two regions\n%s", mb, merr, out)
	}
	if !strings.Contains(string(out), "building from ami-") {
		t.Errorf("the shell provisioner's output is missing:\n%s", out)
	}
	assertNoLeftovers(t, runFromLedger(t), "us-east-1", "us-west-2")
}
