package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbuild/imgbuild/internal/cache"
)

type recordUI struct{ lines []string }

func (u *recordUI) Message(m string) { u.lines = append(u.lines, m) }
func (u *recordUI) Error(m string)   { u.lines = append(u.lines, m) }
func (u *recordUI) text() string     { return strings.Join(u.lines, "\n") }

func testKeys() []cache.Key {
	return []cache.Key{cache.Key(strings.Repeat("a", 64)), cache.Key(strings.Repeat("b", 64))}
}

func TestALiveLeaseMakesTheSecondRunnerWaitAndThenBuildWhenItGivesUp(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	local, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys := testKeys()
	if etag, _, err := s.tryLease(ctx, keys[0]); err != nil || etag == "" {
		t.Fatalf("the first runner did not get the lease: %q, %v", etag, err)
	}
	u := &recordUI{}
	n, release := NewLayer(s, true, "test").Claim(ctx, local, keys, 0, 3*time.Second, u)
	if n != 0 || release != nil {
		t.Fatalf("Claim under another's live lease = %d, holds a lease %v", n, release != nil)
	}
	if !strings.Contains(u.text(), "Waiting for ") || !strings.Contains(u.text(), "gave up waiting") {
		t.Errorf("the second runner did not say it waited and gave up:\n%s", u.text())
	}
	// -cache-wait=0: no waiting at all.
	u = &recordUI{}
	if _, release := NewLayer(s, true, "test").Claim(ctx, local, keys, 0, 0, u); release != nil || u.text() != "" {
		t.Errorf("with no wait Claim took a lease or said %q", u.text())
	}
}

func TestAnExpiredLeaseIsTakenOverAndAReleasedOneIsGone(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	local, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys := testKeys()
	dead, _ := json.Marshal(leaseBody{Holder: "dead-runner", Expires: time.Now().Add(-time.Minute)})
	name := aws.String("ci/cache/" + leaseName(keys[0]))
	if _, err := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: name, Body: bytes.NewReader(dead)}); err != nil {
		t.Fatal(err)
	}
	u := &recordUI{}
	n, release := NewLayer(s, true, "test").Claim(ctx, local, keys, 0, time.Minute, u)
	if n != 0 || release == nil {
		t.Fatalf("Claim did not take over the dead runner's lease (n=%d):\n%s", n, u.text())
	}
	if strings.Contains(u.text(), "Waiting") {
		t.Errorf("Claim waited for a dead runner:\n%s", u.text())
	}
	release()
	if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: name}); err == nil {
		t.Error("the released lease is still stored")
	}
}

// A runner that stalled past its lease's expiry and was taken over must
// neither renew nor delete its successor's lease: both are conditional
// on the version it wrote.
func TestATakenOverLeaseCannotBeRenewedOrReleasedByItsOldHolder(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	k := testKeys()[0]
	old, _, err := s.tryLease(ctx, k)
	if err != nil || old == "" {
		t.Fatalf("taking the lease: %q, %v", old, err)
	}
	// Its expiry passes (written as the stalled holder's last renewal).
	stale, _ := json.Marshal(leaseBody{Holder: holderID, Expires: time.Now().Add(-time.Second)})
	name := aws.String("ci/cache/" + leaseName(k))
	out, err := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: name, Body: bytes.NewReader(stale)})
	if err != nil {
		t.Fatal(err)
	}
	expired := aws.ToString(out.ETag)
	successor, _, err := s.tryLease(ctx, k)
	if err != nil || successor == "" || successor == expired {
		t.Fatalf("the expired lease was not taken over: %q, %v", successor, err)
	}
	if next, err := s.putLease(ctx, k, expired); err != nil || next != "" {
		t.Errorf("the old holder renewed its successor's lease: %q, %v", next, err)
	}
	if err := s.dropLease(ctx, k, expired); err != nil {
		t.Fatal(err)
	}
	cur, found, err := s.readLease(ctx, k)
	if err != nil || !found || cur.etag != successor {
		t.Errorf("the successor's lease is gone or changed after the old holder's release: %+v, %v, %v", cur, found, err)
	}
	if err := s.dropLease(ctx, k, successor); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.readLease(ctx, k); found {
		t.Error("the successor's release left its lease")
	}
}

// The runner that leases the first step nobody stored leases the steps
// after it too, and gives each up once its checkpoint is stored: a runner
// that comes when the first step is stored pulls it and waits for the
// second instead of building it as well.
func TestALateRunnerWaitsForTheStepTheHolderIsBuilding(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	keys := append(testKeys(), cache.Key(strings.Repeat("c", 64)))
	a, _ := cache.Open(t.TempDir())
	layerA := NewLayer(s, true, "test")
	n, release := layerA.Claim(ctx, a, keys, 0, time.Minute, &recordUI{})
	if n != 0 || release == nil {
		t.Fatalf("the first runner did not lease the cold steps (n=%d)", n)
	}
	defer release()
	// Runner A stores step 1 and builds step 2.
	checkpoints(t, a, keys[:1], func(int) string { return "step one" })
	layerA.Push(ctx, a, keys[:1], &recordUI{})
	if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: aws.String("ci/cache/" + leaseName(keys[0]))}); err == nil {
		t.Error("the lease on step 1 is still held after its checkpoint was stored")
	}

	b, _ := cache.Open(t.TempDir())
	u := &recordUI{}
	n, releaseB := NewLayer(s, true, "test").Claim(ctx, b, keys, 0, 3*time.Second, u)
	if releaseB != nil {
		releaseB()
		t.Fatalf("the late runner leased step %d, which the first runner is building:\n%s", n+1, u.text())
	}
	if n != 1 || !strings.Contains(u.text(), "building provisioner 2") {
		t.Errorf("the late runner did not pull step 1 (n=%d) and wait for provisioner 2:\n%s", n, u.text())
	}
}

// The builds of one run share the layer: each one's release gives up its
// own leases and leaves the other build's held.
func TestTwoBuildsOfOneRunReleaseOnlyTheirOwnLeases(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	layer := NewLayer(s, true, "test")
	local, _ := cache.Open(t.TempDir())
	docker := testKeys()
	qemu := []cache.Key{cache.Key(strings.Repeat("d", 64)), cache.Key(strings.Repeat("e", 64))}
	_, releaseDocker := layer.Claim(ctx, local, docker, 0, time.Minute, &recordUI{})
	_, releaseQemu := layer.Claim(ctx, local, qemu, 0, time.Minute, &recordUI{})
	if releaseDocker == nil || releaseQemu == nil {
		t.Fatal("a build did not lease its cold steps")
	}
	held := func(k cache.Key) bool {
		_, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: aws.String("ci/cache/" + leaseName(k))})
		return err == nil
	}
	releaseDocker()
	for _, k := range docker {
		if held(k) {
			t.Errorf("the first build's lease on %s is left after its release", k.Short())
		}
	}
	for _, k := range qemu {
		if !held(k) {
			t.Errorf("the first build's release gave up the second build's lease on %s", k.Short())
		}
	}
	releaseQemu()
	for _, k := range qemu {
		if held(k) {
			t.Errorf("the second build's lease on %s is left after its release", k.Short())
		}
	}
}
