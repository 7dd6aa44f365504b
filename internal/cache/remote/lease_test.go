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
	if ok, _, err := s.tryLease(ctx, keys[0]); err != nil || !ok {
		t.Fatalf("the first runner did not get the lease: %v, %v", ok, err)
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
