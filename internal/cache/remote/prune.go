package remote

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// Listed is an entry of the shared cache with when it was last used:
// stored, or downloaded by a runner (used/<key>, rewritten on each
// download).
type Listed struct {
	Entry
	LastUsed time.Time
}

// blobGrace keeps blobs no entry names yet from an age-based prune: a
// runner uploads a checkpoint's files before its entry, or finds a blob
// stored already and names it in an entry it writes later (it then
// marks the blob reused, reused/<hex>, and the grace counts from then).
var blobGrace = time.Hour

func usedName(k cache.Key) string { return "used/" + string(k) }

func reusedName(digest string) string { return "reused/" + strings.TrimPrefix(digest, "sha256:") }

// markReused records that a runner is about to name the stored blob of
// digest in a new entry: an age-based prune then keeps it for blobGrace.
func (s *Store) markReused(ctx context.Context, digest string) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: s.key(reusedName(digest)), Body: strings.NewReader(""), ContentLength: aws.Int64(0),
	})
	return err
}

// MarkUsed records that k was just used (downloaded).
func (s *Store) MarkUsed(ctx context.Context, k cache.Key) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: s.key(usedName(k)), Body: strings.NewReader(""), ContentLength: aws.Int64(0),
	})
	return err
}

// objects lists the objects under dir/ with their modification times.
func (s *Store) objects(ctx context.Context, dir string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: s.key(dir + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", s.url, err)
		}
		for _, o := range page.Contents {
			out[strings.TrimPrefix(aws.ToString(o.Key), s.prefix+dir+"/")] = aws.ToTime(o.LastModified)
		}
	}
	return out, nil
}

// List returns every entry this imgbuild can use, least recently used
// first.
func (s *Store) List(ctx context.Context) ([]Listed, error) {
	out, _, err := s.list(ctx)
	return out, err
}

// list is List, and the keys of the entries a later imgbuild wrote.
func (s *Store) list(ctx context.Context) (out []Listed, later []cache.Key, err error) {
	names, err := s.objects(ctx, "entries")
	if err != nil {
		return nil, nil, err
	}
	used, err := s.objects(ctx, "used")
	if err != nil {
		return nil, nil, err
	}
	for name, mod := range names {
		k := cache.Key(strings.TrimSuffix(name, ".json"))
		b, found, err := s.small(ctx, entryName(k))
		if err != nil {
			return nil, nil, err
		}
		if !found {
			continue // removed meanwhile
		}
		e, ok, newer := decodeEntry(b, k)
		if newer {
			later = append(later, k)
		}
		if !ok {
			continue
		}
		last := mod
		if u, ok := used[string(k)]; ok && u.After(last) {
			last = u
		}
		out = append(out, Listed{Entry: e, LastUsed: last})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.Before(out[j].LastUsed) })
	return out, later, nil
}

// Prune removes the entries last used before cutoff (every one when
// cutoff is zero) and the entries built on them, then the blobs no
// remaining entry names among its files' chunks (with an age-based
// prune, only those older than an hour: they may belong to an upload
// whose entry is not written yet).
//
// Entries a later imgbuild wrote (a later format) may name blobs in a
// way this one cannot read: an age-based prune leaves them and keeps
// every blob, and says so in its error; prune --all removes them too.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) ([]Listed, error) {
	all, later, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	doomed := map[cache.Key]bool{}
	parentOf := map[cache.Key]cache.Key{}
	for _, e := range all {
		if cutoff.IsZero() || e.LastUsed.Before(cutoff) {
			doomed[e.Key] = true
		}
		parentOf[e.Key] = e.Parent
	}
	cache.WithDescendants(doomed, parentOf)
	var removed []Listed
	var errs []error
	needed := map[string]bool{}
	keep := func(e Listed) {
		for _, f := range e.Files {
			for _, c := range f.Blobs() {
				needed[strings.TrimPrefix(c.Digest, "sha256:")+".zst"] = true
			}
		}
	}
	for _, e := range all {
		if !doomed[e.Key] {
			keep(e)
			continue
		}
		if err := s.DeleteEntry(ctx, e.Key); err != nil {
			errs = append(errs, fmt.Errorf("removing entry %s: %w", e.Key.Short(), err))
			keep(e) // it stays, and stays whole
			continue
		}
		s.deleteObject(ctx, usedName(e.Key))
		removed = append(removed, e)
	}
	if len(later) > 0 && !cutoff.IsZero() {
		errs = append(errs, fmt.Errorf("kept every blob: %d entries were written by a later imgbuild, whose files this one cannot tell apart; prune with that version to free space", len(later)))
		return removed, errors.Join(errs...)
	}
	for _, k := range later { // prune --all: they go too
		if err := s.DeleteEntry(ctx, k); err != nil {
			errs = append(errs, fmt.Errorf("removing entry %s: %w", k.Short(), err))
			return removed, errors.Join(errs...) // it stays: so do the blobs it may name
		}
		s.deleteObject(ctx, usedName(k))
	}
	blobs, err := s.objects(ctx, "blobs/sha256")
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	reused, err := s.objects(ctx, "reused")
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	for name, mod := range blobs {
		hex := strings.TrimSuffix(name, ".zst")
		if r, ok := reused[hex]; ok && r.After(mod) {
			mod = r
		}
		if needed[name] || (!cutoff.IsZero() && time.Since(mod) < blobGrace) {
			delete(reused, hex)
			continue
		}
		if err := s.deleteBlob(ctx, "sha256:"+hex); err != nil {
			errs = append(errs, fmt.Errorf("removing blob %s: %w", name, err))
			delete(reused, hex)
		}
	}
	for hex := range reused { // of blobs removed now, or gone before
		s.deleteObject(ctx, "reused/"+hex)
	}
	return removed, errors.Join(errs...)
}
