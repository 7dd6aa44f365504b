package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbuild/imgbuild/internal/cache/remote"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// Runners are stood for by cache directories: each build below uses its
// own, so everything it reuses came through the object store.
func TestQemuSharedCacheLetsAnEmptyRunnerRebuildWithoutBootingAndSurvivesDamageAndOutages(t *testing.T) {
	srv := testenv.UseS3(t)
	bin := testenv.Binary(t)
	work := t.TempDir()
	vm := privateTestVM(t, work)
	sum := vm.diskSHA256
	name := uniqueName(t)
	tpl := filepath.Join(work, "cached.pkr.hcl")
	content := fmt.Sprintf(cacheTemplate, vm.disk, sum, name, vm.password, vm.kernel, vm.initrd)
	if err := os.WriteFile(tpl, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	files := filepath.Join(work, "files")
	os.Mkdir(files, 0o755)
	os.WriteFile(filepath.Join(files, "a.txt"), []byte("alpha\n"), 0o644)
	cacheURL := srv.URL("runners")

	runner := func(label string) string {
		t.Helper()
		return cacheForTest(t, bin, "share-"+label)
	}
	run := func(cacheDir, out string, args []string, env ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args = append([]string{"build", "-cache-url", cacheURL,
			"-var", "out=" + filepath.Join(work, "out-"+out), "-var", "files=" + files}, args...)
		cmd := exec.CommandContext(ctx, bin, append(args, tpl)...)
		cmd.Dir = work
		cmd.Env = append(append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir), env...)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		if qemuRunning(name) {
			t.Errorf("build %s left a qemu process running", out)
		}
		return buf.String(), err
	}
	build := func(cacheDir, out string, env ...string) string {
		t.Helper()
		s, err := run(cacheDir, out, nil, env...)
		if err != nil {
			t.Fatalf("build %s failed: %v\n%s", out, err, s)
		}
		return s
	}
	image := func(out string) string { return filepath.Join(work, "out-"+out, name) }

	// Runner F makes its own steps 1 and 2 (step 3 fails; read mode: it
	// stores nothing) before runner A stores its whole chain. The cache
	// exists already (its salt: read mode does not make one).
	shared, err := remote.Open(context.Background(), cacheURL)
	if err == nil {
		_, err = shared.Salt(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	dirF := runner("F")
	if s, err := run(dirF, "f-failed", []string{"-cache-mode", "read", "-var", "fail=true"}); err == nil {
		t.Fatalf("the build meant to fail at step 3 succeeded:\n%s", s)
	}

	// Runner A builds cold and shares every step.
	out := build(runner("A"), "a")
	qemuRan(t, "runner A (cold)", out, 1, 2, 3, 4)
	if strings.Count(out, ") shared in ") != 4 {
		t.Errorf("runner A did not share its 4 checkpoints:\n%s", out)
	}
	cold := imageTree(t, image("a"))

	// Runner B, empty, downloads them all and boots no VM: its output is
	// made from the same disk state as A's, so it is the same.
	out = build(runner("B"), "b")
	qemuRan(t, "runner B (empty, shared cache)", out)
	if strings.Contains(out, "Starting qemu") || strings.Count(out, "restored from cache") != 4 || strings.Count(out, "Downloading checkpoint") != 4 {
		t.Errorf("runner B booted a VM or did not download and restore 4 steps:\n%s", out)
	}
	if diffs := treeDiff(imageTree(t, image("b")), cold, nil); len(diffs) > 0 {
		t.Errorf("runner B's image differs from runner A's cold build:\n%s", strings.Join(diffs, "\n"))
	}

	// A byte flipped in the last step's layer: runner C reports it,
	// restores steps 1-3, runs step 4 again and shares it again.
	flipLayerOfStep(t, srv, "runners/", 4)
	out = build(runner("C"), "c")
	qemuRan(t, "runner C (step 4 damaged)", out, 4)
	if strings.Count(out, "is damaged and is not used") != 1 {
		t.Errorf("runner C did not report the damaged checkpoint once:\n%s", out)
	}
	if strings.Count(out, ") shared in ") != 1 {
		t.Errorf("runner C did not share step 4 again:\n%s", out)
	}
	treeC := imageTree(t, image("c"))
	for _, f := range []string{"opt/app/one", "opt/app/combined", "opt/app/files/a.txt", "etc/last"} {
		if treeC[f] == "" || treeC[f] != cold[f] {
			t.Errorf("runner C's %s = %q, the cold build's %q", f, treeC[f], cold[f])
		}
	}
	// ...and what C stored is whole: runner D gets every step, no warning.
	out = build(runner("D"), "d")
	qemuRan(t, "runner D (after the repair)", out)
	if strings.Contains(out, "Warning") || strings.Count(out, "restored from cache") != 4 {
		t.Errorf("runner D did not restore all 4 steps cleanly:\n%s", out)
	}

	// Runner F's steps 1-2 are its own copies: A's step 3 layer holds the
	// blocks A's step 3 changed on A's copy, so F must not stack it on its
	// own; F builds 3 and 4 itself and stores nothing on A's chain.
	out = build(dirF, "f")
	qemuRan(t, "runner F (own steps 1-2, A's 3-4 stored)", out, 3, 4)
	if !strings.Contains(out, "another runner's copy") || strings.Contains(out, ") shared in ") {
		t.Errorf("runner F did not refuse A's step 3 on its own step 2, or stored its steps on A's chain:\n%s", out)
	}
	treeF := imageTree(t, image("f"))
	for _, f := range []string{"opt/app/one", "opt/app/combined", "opt/app/files/a.txt", "etc/last"} {
		if treeF[f] == "" || treeF[f] != cold[f] {
			t.Errorf("runner F's %s = %q, the cold build's %q", f, treeF[f], cold[f])
		}
	}

	// The server unreachable: the build succeeds uncached, one warning.
	out = build(runner("E"), "e", "AWS_ENDPOINT_URL_S3=http://127.0.0.1:1")
	qemuRan(t, "runner E (server unreachable)", out, 1, 2, 3, 4)
	if n := strings.Count(out, "Warning: the shared cache"); n != 1 {
		t.Errorf("runner E gave %d warnings about the shared cache, want 1:\n%s", n, out)
	}
}

// flipLayerOfStep flips one byte in a stored chunk of the layer of the
// step-th provisioner's checkpoint.
func flipLayerOfStep(t *testing.T, srv testenv.S3, prefix string, step int) {
	t.Helper()
	ctx := context.Background()
	list, err := srv.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String(prefix + "entries/")})
	if err != nil {
		t.Fatal(err)
	}
	read := func(key string) []byte {
		o, err := srv.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.Bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Body.Close()
		b, err := io.ReadAll(o.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, o := range list.Contents {
		var e struct {
			Step  int `json:"step"`
			Files []struct {
				Role, Digest string
				Chunks       []struct{ Digest string }
			} `json:"files"`
		}
		if err := json.Unmarshal(read(*o.Key), &e); err != nil || e.Step != step {
			continue
		}
		for _, f := range e.Files {
			if f.Role != "layer" {
				continue
			}
			damaged := f.Digest // an entry of format 1: the file is one blob
			if len(f.Chunks) > 0 {
				damaged = f.Chunks[len(f.Chunks)/2].Digest
			}
			key := prefix + "blobs/sha256/" + strings.TrimPrefix(damaged, "sha256:") + ".zst"
			b := read(key)
			b[len(b)/2] ^= 0x01
			if _, err := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no stored entry for step %d", step)
}
