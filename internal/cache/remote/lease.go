package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/wait"
)

// A lease says that a runner is building a step no runner has stored
// yet, so that another runner on the same cold step waits for its
// checkpoint instead of building it too. It is an object,
// leases/<key>.json, made with If-None-Match, with an expiry the holder
// pushes forward while it builds; a holder that dies stops renewing and
// the lease is taken over once it has expired.

// LeaseTTL is how long a lease lasts without renewal; it is renewed
// every third of that. Clocks of runners may differ by less than this.
const LeaseTTL = 90 * time.Second

// pollEvery is how often a waiting runner looks for the checkpoint.
const pollEvery = 2 * time.Second

type leaseBody struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

func leaseName(k cache.Key) string { return "leases/" + string(k) + ".json" }

// holderID names this process in leases (host, pid, a random suffix).
var holderID = func() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}()

// tryLease takes the lease on k when no live one exists; it returns the
// current holder's lease when another runner has it.
func (s *Store) tryLease(ctx context.Context, k cache.Key) (bool, leaseBody, error) {
	for attempt := 0; attempt < 2; attempt++ {
		body := leaseBody{Holder: holderID, Expires: time.Now().Add(LeaseTTL).UTC()}
		b, _ := json.Marshal(body)
		ok, err := s.putIfAbsent(ctx, leaseName(k), b)
		if err != nil || ok {
			return ok, body, err
		}
		cur, found, err := s.small(ctx, leaseName(k))
		if err != nil {
			return false, leaseBody{}, err
		}
		var held leaseBody
		if found && json.Unmarshal(cur, &held) == nil && time.Now().Before(held.Expires) {
			return false, held, nil
		}
		// Expired (its holder died), torn, or released meanwhile: take over.
		if err := s.deleteObject(ctx, leaseName(k)); err != nil {
			return false, leaseBody{}, err
		}
	}
	return false, leaseBody{}, nil
}

func (s *Store) renewLease(ctx context.Context, k cache.Key) error {
	b, _ := json.Marshal(leaseBody{Holder: holderID, Expires: time.Now().Add(LeaseTTL).UTC()})
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: s.key(leaseName(k)), Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))),
	})
	return err
}

func (s *Store) deleteObject(ctx context.Context, name string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.key(name)})
	return err
}

// Claim is Pull for a build that may have to build the first missing
// step: in readwrite mode it takes that step's lease, or, while another
// runner holds it, waits (at most maxWait) for that runner's checkpoint,
// pulls it and tries the next missing step. It returns the local prefix
// length and a release for the lease it holds (nil when none): call it
// once the build pushed its checkpoints, or ended.
func (l *Layer) Claim(ctx context.Context, local *cache.Store, keys []cache.Key, have int, maxWait time.Duration, u UI) (int, func()) {
	n := l.Pull(ctx, local, keys, have, u)
	if !l.write || maxWait <= 0 {
		return n, nil
	}
	deadline := time.Now().Add(maxWait)
	said := cache.Key("")
	for n < len(keys) && l.on() && ctx.Err() == nil {
		k := keys[n]
		ok, held, err := l.store.tryLease(ctx, k)
		if err != nil {
			l.off(u, "taking the lease on step "+k.Short(), err)
			return n, nil
		}
		if ok {
			return n, l.hold(k)
		}
		if time.Now().After(deadline) {
			u.Error(fmt.Sprintf("Warning: gave up waiting for %s to build provisioner %d after %s; building it here too", held.Holder, n+1, maxWait))
			return n, nil
		}
		if said != k {
			said = k
			u.Message(fmt.Sprintf("Waiting for %s, which is building provisioner %d (%s), for its checkpoint (-cache-wait=0 builds it here at once)", held.Holder, n+1, k.Short()))
		}
		if wait.Sleep(ctx, pollEvery) != nil {
			return n, nil
		}
		n = l.Pull(ctx, local, keys, n, u)
	}
	return n, nil
}

// hold renews the lease on k until the returned release is called, which
// deletes it.
func (l *Layer) hold(k cache.Key) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), LeaseTTL/3)
				l.store.renewLease(ctx, k) // a failed renewal: another runner may take over, which is safe
				cancel()
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l.store.deleteObject(ctx, leaseName(k))
	}
}
