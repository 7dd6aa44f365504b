// Package remote keeps build checkpoints in S3-compatible object storage,
// so that every CI runner reuses a checkpoint any runner made. It knows
// objects, not builders: what a checkpoint's files are is the builder's
// cache.Porter's business (see layer.go).
//
// Layout under s3://bucket/prefix/:
//
//	salt                    32 random bytes: the secret of the cache keys' root HMAC,
//	                        shared by every runner of this cache (made by the first)
//	entries/<key>.json      the index entry naming a checkpoint's files, written last;
//	                        each file is listed with the chunks that hold it, in order
//	blobs/sha256/<hex>.zst  a chunk of a checkpoint file, zstd-compressed, named by the
//	                        SHA-256 of its uncompressed content (stored once however
//	                        many files and checkpoints hold it)
//	used/<key>              empty: rewritten when a runner downloads the entry (prune)
//	reused/<hex>            empty: a runner found that blob stored and is about to name
//	                        it in an entry (prune keeps the blob a while)
//	leases/<key>.json       who builds that step now (lease.go)
//
// Files are cut into content-defined chunks (cdc.go) of 512 KiB to 8 MiB,
// each one blob: the cumulative layers of docker checkpoints and stacked
// qemu layers share most of their content with others, which is then
// uploaded and stored once. Entries of format 1 (before chunks) list no
// chunks: each file is its one blob, named by the file's digest.
package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/klauspost/compress/zstd"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// Entry is a checkpoint's index entry in the object store: the local
// entry's description (its Ref is the writer's and means nothing
// elsewhere), the files that hold it and the imgbuild that wrote it.
type Entry struct {
	cache.Entry
	Files   []File `json:"files"`
	Version string `json:"imgbuild_version"`
	// Format is the layout of entries and blobs the writer used; a reader
	// takes an entry of a later format for a miss (an older imgbuild on a
	// cache that newer ones write). 0, from before formats, is 1.
	Format int `json:"format,omitempty"`
}

// entryFormat is the layout this imgbuild writes and reads.
const entryFormat = 2

// File is one file of a checkpoint: its role for the builder's Porter
// ("layer", "final"), the digest and size of its uncompressed content,
// and the chunks that hold it, in order.
type File struct {
	Role   string  `json:"role"`
	Digest string  `json:"digest"` // "sha256:<hex>"
	Size   int64   `json:"size"`
	Chunks []Chunk `json:"chunks,omitempty"`
}

// A Chunk is a piece of a file stored as one blob.
type Chunk struct {
	Digest string `json:"digest"` // "sha256:<hex>" of its uncompressed content
	Size   int64  `json:"size"`
}

// Blobs returns the chunks that hold f: its Chunks, or, in an entry of
// format 1, the whole file as one.
func (f File) Blobs() []Chunk {
	if len(f.Chunks) == 0 {
		return []Chunk{{Digest: f.Digest, Size: f.Size}}
	}
	return f.Chunks
}

// ErrCorrupt is returned when a downloaded object does not match its
// digest or cannot be decompressed: a damaged or truncated object.
var ErrCorrupt = errors.New("damaged object")

// A CorruptError is ErrCorrupt for one stored blob: damaged, truncated
// or missing.
type CorruptError struct {
	Digest string // the blob's, "sha256:<hex>"
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: %s %s", ErrCorrupt, blobName(e.Digest), e.Reason)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Store is a cache in one bucket under one prefix.
type Store struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
	url    string
	enc    *zstd.Encoder // EncodeAll only: safe for concurrent use
	dec    *zstd.Decoder // DecodeAll only: safe for concurrent use

	mu sync.Mutex
	// known holds the blobs this process uploaded or found stored, and
	// when: a chunk many files share costs no request after the first.
	// Remembered for half of blobGrace only, the time for which a prune
	// by age keeps a blob no entry names yet.
	known map[string]time.Time
}

// ParseURL splits s3://bucket/prefix.
func ParseURL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("%q is not an s3://bucket/prefix URL", raw)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	return u.Host, prefix, nil
}

// Open connects to the cache at rawURL with the AWS credential chain.
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL name an S3-compatible server;
// such servers are addressed path-style (bucket in the path, not in the
// host name). Requests are retried with backoff by the SDK's retryer
// (dropped connections, throttling, 5xx). Nothing is contacted yet.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	bucket, prefix, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 4
				o.MaxBackoff = 2 * time.Second
			})
		}),
	}
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		opts = append(opts, config.WithRegion("us-east-1"))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	pathStyle := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		// Checksums only where the operation needs one: some
		// S3-compatible servers reject the trailing checksums of
		// streamed uploads. Content is verified by digest instead.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	// A 1 MiB window (and the smaller history of WithLowerEncoderMem)
	// keeps each of the encoders small: a chunk's matches are mostly
	// near, and memory must stay flat while files move.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(chunksInFlight), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, err
	}
	// A chunk decompresses to maxChunk bytes at most: more is damage, and
	// is refused before it takes the memory.
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(chunksInFlight), zstd.WithDecoderMaxMemory(maxChunk))
	if err != nil {
		return nil, err
	}
	return &Store{client: client, bucket: bucket, prefix: prefix, url: rawURL, enc: enc, dec: dec}, nil
}

// URL is the cache's s3:// URL.
func (s *Store) URL() string { return s.url }

func (s *Store) key(parts ...string) *string {
	return aws.String(s.prefix + strings.Join(parts, "/"))
}

func entryName(k cache.Key) string { return "entries/" + string(k) + ".json" }

func blobName(digest string) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:") + ".zst"
}

// Salt returns the cache's shared secret salt, making it when the cache is
// new. Two runners making it at once agree where the server honours
// If-None-Match (the loser re-reads the winner's); where it does not, the
// last write wins and a runner that read the other may key one build
// differently: a miss, never a wrong hit.
func (s *Store) Salt(ctx context.Context) ([]byte, error) {
	return s.salt(ctx, true)
}

// ExistingSalt is Salt without making one: nil when the cache is new
// (for -cache-mode read, which writes nothing).
func (s *Store) ExistingSalt(ctx context.Context) ([]byte, error) {
	return s.salt(ctx, false)
}

func (s *Store) salt(ctx context.Context, create bool) ([]byte, error) {
	for attempt := 0; attempt < 3; attempt++ {
		b, found, err := s.small(ctx, "salt")
		if err != nil {
			return nil, fmt.Errorf("reading the cache's salt: %w", err)
		}
		if found && len(b) == 32 {
			return b, nil
		}
		if found {
			return nil, fmt.Errorf("the cache's salt object %s is not 32 bytes; remove it to start the cache afresh", aws.ToString(s.key("salt")))
		}
		if !create {
			return nil, nil
		}
		salt := make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		ok, err := s.putIfAbsent(ctx, "salt", salt)
		if err != nil {
			return nil, fmt.Errorf("writing the cache's salt: %w", err)
		}
		if ok {
			return salt, nil
		}
	}
	return nil, errors.New("the cache's salt keeps changing")
}

// small reads a small object whole; found is false when it does not exist.
func (s *Store) small(ctx context.Context, name string) ([]byte, bool, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(name)})
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// putIfAbsent writes a small object unless one exists already (false).
func (s *Store) putIfAbsent(ctx context.Context, name string, b []byte) (bool, error) {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           s.key(name),
		Body:          bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))),
		IfNoneMatch:   aws.String("*"),
	})
	if isPreconditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

func isNotFound(err error) bool {
	var nk *types.NoSuchKey
	var nf *types.NotFound
	var ae smithy.APIError
	return errors.As(err, &nk) || errors.As(err, &nf) ||
		(errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound"))
}

// Get returns the index entry for k.
func (s *Store) Get(ctx context.Context, k cache.Key) (Entry, bool, error) {
	b, found, err := s.small(ctx, entryName(k))
	if err != nil || !found {
		return Entry{}, false, err
	}
	e, ok, _ := decodeEntry(b, k)
	return e, ok, nil
}

// decodeEntry reads k's entry: ok when this imgbuild can use it, later
// when a later imgbuild wrote it (a format this one does not know, whose
// blobs it cannot tell). A foreign or torn entry is neither.
func decodeEntry(b []byte, k cache.Key) (e Entry, ok, later bool) {
	if err := json.Unmarshal(b, &e); err != nil || e.Key != k {
		return Entry{}, false, false
	}
	if e.Format > entryFormat {
		return Entry{}, false, true
	}
	return e, true, false
}

// PutEntry records e once its files are stored. It writes only when no
// entry exists (If-None-Match: *), so two runners finishing the same step
// leave the first one's entry; both name complete content, so either is
// right. A server that ignores the condition keeps the last one written.
func (s *Store) PutEntry(ctx context.Context, e Entry) (written bool, err error) {
	e.Format = entryFormat
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return false, err
	}
	return s.putIfAbsent(ctx, entryName(e.Key), b)
}

// DeleteEntry removes k's index entry (its blobs stay: others may share them).
func (s *Store) DeleteEntry(ctx context.Context, k cache.Key) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.key(entryName(k))})
	return err
}

func fileDigest(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hashing %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}
