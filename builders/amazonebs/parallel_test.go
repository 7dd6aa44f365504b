package amazonebs

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// Two amazon-ebs sources of one invocation, in one region, build at once:
// they share the run's UUID, and neither may take the other's instance for
// a duplicate of its own (or share its idempotency token). Both AMIs are
// made and nothing temporary is left.
func TestCLITwoSourcesInOneRegionBuildInParallelWithoutTouchingEachOther(t *testing.T) {
	motoEnv(t)
	bin := testenv.Binary(t)
	dir := t.TempDir()
	prefix := "cli-parallel-" + uuid.NewString()[:8]
	source := func(name string) string {
		return `
source "amazon-ebs" "` + name + `" {
  region        = "us-east-1"
  source_ami_filter {
    filters     = { name = "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*" }
    owners      = ["099720109477"]
    most_recent = true
  }
  instance_type = "t3.micro"
  ami_name      = "` + prefix + `-` + name + `"
  communicator  = "none"
}
`
	}
	// The provisioner holds each instance for a moment, so that each
	// build looks for duplicates while the other's instance runs.
	tpl := source("a") + source("b") + `
build {
  sources = ["source.amazon-ebs.a", "source.amazon-ebs.b"]
  provisioner "shell-local" {
    inline = ["sleep 2"]
  }
  post-processor "manifest" {
    output = "` + filepath.Join(dir, "manifest.json") + `"
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "build", dir).CombinedOutput()
	for _, name := range []string{"a", "b"} {
		for _, img := range imagesNamed(t, "us-east-1", prefix+"-"+name) {
			id := *img.ImageId
			t.Cleanup(func() { awsclient.DeleteImage(context.Background(), ec2For(t, "us-east-1"), id, true) })
		}
	}
	if err != nil {
		t.Fatalf("imgbuild build: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "duplicate") {
		t.Errorf("a build took the other's resource for a duplicate:\n%s", out)
	}
	for _, name := range []string{"a", "b"} {
		if n := len(imagesNamed(t, "us-east-1", prefix+"-"+name)); n != 1 {
			t.Errorf("AMIs named %s-%s: %d, want 1\n%s", prefix, name, n, out)
		}
	}
	var manifest struct {
		Builds []struct {
			Name string `json:"name"`
		} `json:"builds"`
	}
	mb, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err := json.Unmarshal(mb, &manifest); err != nil || len(manifest.Builds) != 2 {
		t.Errorf("manifest %s (%v): want both builds", mb, err)
	}
	// Each build wrote only its own instance to the ledger.
	builds := map[string][]string{}
	for _, e := range ledgerEntries(t) {
		if e.Kind == awsclient.KindInstance && e.Action == ledger.Created {
			builds[e.ID] = append(builds[e.ID], e.Build)
		}
	}
	if len(builds) != 2 {
		t.Errorf("instances in the ledger: %v, want one per build", builds)
	}
	for id, b := range builds {
		if len(b) != 1 {
			t.Errorf("instance %s was recorded by %v, want by the build that launched it alone", id, b)
		}
	}
	assertNoLeftovers(t, runFromLedger(t), "us-east-1")
}

// ledgerEntries reads the ledger of the test's state folder.
func ledgerEntries(t *testing.T) []ledger.Entry {
	t.Helper()
	l, err := ledger.Open("")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	return entries
}
