package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// With -cache-share-vm-states, runner A's VM states go to the shared
// cache with their layers, and runner B, with an empty cache, resumes the
// VM from A's state instead of booting it (the guest's boot id in the
// changed third provisioner is the one A's second printed). Without the
// flag states stay local: a runner without it drops those it downloads
// and boots, and a cold build without it stores none.
func TestQemuSharedCacheCarriesVMStatesOnlyWhenAskedSoThatAnotherRunnerResumes(t *testing.T) {
	srv := testenv.UseS3(t)
	bin := testenv.Binary(t)
	work := t.TempDir()
	vm := privateTestVM(t, work)
	name := uniqueName(t)
	tpl := filepath.Join(work, "resumed.pkr.hcl")
	content := fmt.Sprintf(resumeTemplate, vm.disk, vm.diskSHA256, name, vm.password, vm.kernel, vm.initrd)
	if err := os.WriteFile(tpl, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(cacheDir, url, out, third string, share bool) string {
		t.Helper()
		args := []string{"build", "-cache-url", url, "-var", "out=" + filepath.Join(work, "out-"+out), "-var", "third=" + third}
		if share {
			args = append(args, "-cache-share-vm-states")
		}
		output := runVMBuild(t, bin, work, cacheDir, name, out, append(args, tpl))
		if strings.Contains(output, "Warning") {
			t.Errorf("build %s warned:\n%s", out, output)
		}
		return output
	}
	statesIn := func(cacheDir string) []string {
		s, _ := filepath.Glob(filepath.Join(cacheDir, "data", "*.vmstate.*"))
		return s
	}
	// image checks the files the three provisioners wrote.
	image := func(out, third string) {
		t.Helper()
		tree := imageTree(t, filepath.Join(work, "out-"+out, name))
		want := map[string]string{"opt/app/one": "one\n", "opt/app/two": "two\n", "opt/app/three": third + "\n"}
		for f, content := range want {
			sum := sha256.Sum256([]byte(content))
			if !strings.HasSuffix(tree[f], " "+hex.EncodeToString(sum[:8])) {
				t.Errorf("build %s: %s is %q, want the content %q", out, f, tree[f], content)
			}
		}
	}

	shared := srv.URL("states")
	out := build(cacheForTest(t, bin, "share-state-A"), shared, "a", "third v1", true)
	coldBoot := bootIDs(out)
	if len(coldBoot) != 3 || coldBoot[2] != coldBoot[3] {
		t.Fatalf("runner A's provisioners did not all run in one boot: %v\n%s", coldBoot, out)
	}
	if got := storedRoles(t, srv, "states/"); got[1] != "layer,vmstate,vmstate-info" || got[2] != "layer,vmstate,vmstate-info" || got[3] != "final,layer" {
		t.Errorf("runner A stored these files by step, want the VM states with steps 1 and 2: %v", got)
	}

	// Runner B changes the third provisioner: it downloads steps 1-2 with
	// A's state and resumes the VM A ran.
	dirB := cacheForTest(t, bin, "share-state-B")
	out = build(dirB, shared, "b", "third v2", true)
	ids := bootIDs(out)
	if _, ran := ids[2]; ran || ids[3] == "" {
		t.Fatalf("runner B did not run exactly the third provisioner: %v\n%s", ids, out)
	}
	if ids[3] != coldBoot[2] || !strings.Contains(out, "Resumed the VM from the state saved with checkpoint") {
		t.Errorf("runner B booted the VM (boot id %s, runner A's %s) instead of resuming A's:\n%s", ids[3], coldBoot[2], out)
	}
	image("b", "third v2")
	// Only the state it resumed from came: step 2's, a .zst and a .json.
	if got := len(statesIn(dirB)); got != 2 {
		t.Errorf("runner B keeps %d VM state files, want the one state it resumed from (2 files): %v", got, statesIn(dirB))
	}

	// Runner C, without the flag, downloads the same prefix, no state, and
	// boots.
	dirC := cacheForTest(t, bin, "share-state-C")
	out = build(dirC, shared, "c", "third v3", false)
	if ids := bootIDs(out); ids[3] == "" || ids[3] == coldBoot[2] || strings.Contains(out, "Resumed the VM") {
		t.Errorf("runner C, without -cache-share-vm-states, resumed the VM (boot id %q):\n%s", ids[3], out)
	}
	image("c", "third v3")
	if s := statesIn(dirC); len(s) != 0 {
		t.Errorf("runner C, without -cache-share-vm-states, kept downloaded VM states: %v", s)
	}

	// A cold build without the flag stores no state; a runner with it
	// then has none to resume from and boots.
	other := srv.URL("no-states")
	build(cacheForTest(t, bin, "share-state-D"), other, "d", "third v1", false)
	for step, roles := range storedRoles(t, srv, "no-states/") {
		if strings.Contains(roles, "vmstate") {
			t.Errorf("a build without -cache-share-vm-states stored step %d's VM state (%s)", step, roles)
		}
	}
	out = build(cacheForTest(t, bin, "share-state-E"), other, "e", "third v2", true)
	if ids := bootIDs(out); ids[3] == "" || strings.Contains(out, "Resumed the VM") {
		t.Errorf("runner E resumed a VM no runner shared:\n%s", out)
	}
	image("e", "third v2")
}

// storedRoles lists the roles of the files each stored entry under prefix
// names, by step: "final,layer".
func storedRoles(t *testing.T, srv testenv.S3, prefix string) map[int]string {
	t.Helper()
	ctx := context.Background()
	list, err := srv.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String(prefix + "entries/")})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, o := range list.Contents {
		obj, err := srv.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.Bucket, Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Step  int `json:"step"`
			Files []struct {
				Role string `json:"role"`
			} `json:"files"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("entry %s: %v", *o.Key, err)
		}
		var roles []string
		for _, f := range e.Files {
			roles = append(roles, f.Role)
		}
		sort.Strings(roles)
		out[e.Step] = strings.Join(roles, ",")
	}
	return out
}
