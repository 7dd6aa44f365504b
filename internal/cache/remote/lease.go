package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/wait"
)

// A lease says that a runner is building steps no runner has stored
// yet, so that another runner on the same cold steps waits for their
// checkpoints instead of building them too. It is an object,
// leases/<key>.json (the key of the first step the holder builds), made
// with If-None-Match, with an expiry the holder pushes forward while it
// builds. Every write after the first is conditional on the ETag the
// holder last wrote (If-Match): a holder that stalled past the expiry and
// was taken over cannot renew or delete its successor's lease. A holder
// that dies stops renewing, and the lease is taken over once it has
// expired, again by a conditional write, so that one of several waiters
// wins.

// LeaseTTL is how long a lease lasts without renewal; it is renewed
// every third of that. Clocks of runners may differ by less than this.
const LeaseTTL = 90 * time.Second

// pollEvery is how often a waiting runner looks for the checkpoint.
const pollEvery = 2 * time.Second

type leaseBody struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// heldLease is a lease as read: its body and the ETag that names this
// version of it.
type heldLease struct {
	leaseBody
	etag string
}

func leaseName(k cache.Key) string { return "leases/" + string(k) + ".json" }

// holderID names this process in leases (host, pid, a random suffix).
var holderID = func() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}()

func newLeaseBody() []byte {
	b, _ := json.Marshal(leaseBody{Holder: holderID, Expires: time.Now().Add(LeaseTTL).UTC()})
	return b
}

// tryLease takes the lease on k when no live one exists and returns its
// ETag; when another runner holds a live one, it returns that lease.
func (s *Store) tryLease(ctx context.Context, k cache.Key) (etag string, held heldLease, err error) {
	for attempt := 0; attempt < 3; attempt++ {
		etag, err := s.putLease(ctx, k, ifAbsent)
		if err != nil || etag != "" {
			return etag, heldLease{}, err
		}
		cur, found, err := s.readLease(ctx, k)
		if err != nil {
			return "", heldLease{}, err
		}
		if !found {
			continue // released meanwhile
		}
		if cur.etag != "" && time.Now().Before(cur.Expires) {
			return "", cur, nil
		}
		// Expired (its holder died) or torn: take it over, unless another
		// waiter did first (then the loop reads theirs).
		cond := cur.etag
		if cond == "" {
			cond = noETag
		}
		if etag, err := s.putLease(ctx, k, cond); err != nil || etag != "" {
			return etag, heldLease{}, err
		}
	}
	return "", heldLease{}, nil
}

// readLease reads k's lease; found is false when there is none.
func (s *Store) readLease(ctx context.Context, k cache.Key) (heldLease, bool, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(leaseName(k))})
	if isNotFound(err) {
		return heldLease{}, false, nil
	}
	if err != nil {
		return heldLease{}, false, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 4<<10))
	if err != nil {
		return heldLease{}, false, err
	}
	h := heldLease{etag: aws.ToString(out.ETag)}
	if json.Unmarshal(b, &h.leaseBody) != nil {
		h.Expires = time.Time{} // torn: as good as expired
	}
	return h, true, nil
}

// Conditions of putLease besides an ETag.
const (
	ifAbsent = ""  // only when no lease exists
	noETag   = "-" // unconditionally: the server gives no ETags
)

// putLease writes this runner's lease on k under cond: ifAbsent, noETag,
// or the ETag of the version it must replace (If-Match). It returns the
// new version's ETag (noETag from a server that gives none), or "" when
// the condition did not hold.
func (s *Store) putLease(ctx context.Context, k cache.Key, cond string) (string, error) {
	b := newLeaseBody()
	in := &s3.PutObjectInput{
		Bucket: &s.bucket, Key: s.key(leaseName(k)), Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))),
	}
	switch cond {
	case ifAbsent:
		in.IfNoneMatch = aws.String("*")
	case noETag:
	default:
		in.IfMatch = aws.String(cond)
	}
	out, err := s.client.PutObject(ctx, in)
	if isPreconditionFailed(err) || isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if etag := aws.ToString(out.ETag); etag != "" {
		return etag, nil
	}
	return noETag, nil
}

// dropLease deletes k's lease if it is still the version etag names.
func (s *Store) dropLease(ctx context.Context, k cache.Key, etag string) error {
	in := &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.key(leaseName(k))}
	if etag != noETag {
		// Not every server honours If-Match on a delete; the ETag is
		// compared first where it does not.
		cur, found, err := s.readLease(ctx, k)
		if err != nil || !found || cur.etag != etag {
			return err
		}
		in.IfMatch = aws.String(etag)
	}
	_, err := s.client.DeleteObject(ctx, in)
	if isPreconditionFailed(err) || isNotFound(err) {
		return nil
	}
	return err
}

func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict")
}

func (s *Store) deleteObject(ctx context.Context, name string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.key(name)})
	return err
}

// Claim is Pull for a build that may have to build the first missing
// step: in readwrite mode it takes that step's lease, or, while another
// runner holds it, waits (at most maxWait) for that runner's checkpoints,
// pulling each as it is stored, until the holder releases the lease (it
// has stored all it will) or dies; then it tries the next missing step.
// It returns the local prefix length and a release for the lease it holds
// (nil when none): call it once the build pushed its checkpoints, or
// ended.
func (l *Layer) Claim(ctx context.Context, local *cache.Store, keys []cache.Key, have int, maxWait time.Duration, u UI) (int, func()) {
	n := l.Pull(ctx, local, keys, have, u)
	if !l.write || maxWait <= 0 {
		return n, nil
	}
	deadline := time.Now().Add(maxWait)
	var waitingOn cache.Key // the key of the lease another runner holds
	for n < len(keys) && l.on() && ctx.Err() == nil {
		if waitingOn == "" {
			k := keys[n]
			etag, held, err := l.store.tryLease(ctx, k)
			if err != nil {
				l.off(u, "taking the lease on step "+k.Short(), err)
				return n, nil
			}
			if etag != "" {
				// The steps after it too, so that a runner that comes
				// later, when this one has stored some, waits for the
				// step being built rather than building it as well.
				held := map[cache.Key]string{k: etag}
				for _, later := range keys[n+1:] {
					etag, _, err := l.store.tryLease(ctx, later)
					if err != nil || etag == "" {
						break
					}
					held[later] = etag
				}
				return n, l.hold(held)
			}
			waitingOn = k
			u.Message(fmt.Sprintf("Waiting for %s, which is building provisioner %d (%s) on, for its checkpoints (-cache-wait=0 builds here at once)", held.Holder, n+1, k.Short()))
		}
		if time.Now().After(deadline) {
			u.Error(fmt.Sprintf("Warning: gave up waiting for the runner building provisioner %d after %s; building it here too", n+1, maxWait))
			return n, nil
		}
		if wait.Sleep(ctx, pollEvery) != nil {
			return n, nil
		}
		cur, found, err := l.store.readLease(ctx, waitingOn)
		if err != nil {
			l.off(u, "reading the lease on step "+waitingOn.Short(), err)
			return n, nil
		}
		if !found || !time.Now().Before(cur.Expires) {
			waitingOn = "" // released or dead: pull what it stored, then lease the next step
		}
		n = l.Pull(ctx, local, keys, n, u)
	}
	return n, nil
}

// hold renews the leases held (key to the ETag last written) until the
// returned release is called, which deletes those still held. Push gives
// up each one as soon as its step's checkpoint is stored (dropHeld), so
// that a waiting runner takes it and goes on to the next. The builds of
// one run share the layer: each holds and releases its own keys.
func (l *Layer) hold(held map[cache.Key]string) func() {
	keys := make([]cache.Key, 0, len(held))
	l.leaseMu.Lock()
	if l.leases == nil {
		l.leases = map[cache.Key]string{}
	}
	for k, etag := range held {
		l.leases[k] = etag
		keys = append(keys, k)
	}
	l.leaseMu.Unlock()
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
				l.renewHeld(keys)
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, k := range keys {
			l.dropHeld(ctx, k)
		}
	}
}

// renewHeld pushes the expiry of those of keys' leases still held
// forward. The lock is held through the writes, so that dropHeld deletes
// the version last written.
func (l *Layer) renewHeld(keys []cache.Key) {
	l.leaseMu.Lock()
	defer l.leaseMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), LeaseTTL/3)
	defer cancel()
	for _, k := range keys {
		etag, ok := l.leases[k]
		if !ok {
			continue
		}
		next, err := l.store.putLease(ctx, k, etag)
		switch {
		case err != nil:
			// Tried again at the next tick; another runner may take over
			// meanwhile, which is safe (it builds the step too).
		case next == "":
			delete(l.leases, k) // taken over after a late renewal: no longer ours
		default:
			l.leases[k] = next
		}
	}
}

// dropHeld gives up the lease on k, if this runner holds it: its
// checkpoint is stored.
func (l *Layer) dropHeld(ctx context.Context, k cache.Key) {
	l.leaseMu.Lock()
	defer l.leaseMu.Unlock()
	etag, ok := l.leases[k]
	if !ok {
		return
	}
	delete(l.leases, k)
	l.store.dropLease(ctx, k, etag)
}
