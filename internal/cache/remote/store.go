// Package remote keeps build checkpoints in S3-compatible object storage,
// so that every CI runner reuses a checkpoint any runner made. It knows
// objects, not builders: what a checkpoint's files are is the builder's
// cache.Porter's business (see layer.go).
//
// Layout under s3://bucket/prefix/:
//
//	salt                    32 random bytes: the secret of the cache keys' root HMAC,
//	                        shared by every runner of this cache (made by the first)
//	entries/<key>.json      the index entry naming a checkpoint's files, written last
//	blobs/sha256/<hex>.zst  a checkpoint file, zstd-compressed, named by the SHA-256
//	                        of its uncompressed content (stored once however many use it)
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
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
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
const entryFormat = 1

// File is one file of a checkpoint: its role for the builder's Porter
// ("layer", "final"), and the digest and size of its uncompressed content.
type File struct {
	Role   string `json:"role"`
	Digest string `json:"digest"` // "sha256:<hex>"
	Size   int64  `json:"size"`
}

// ErrCorrupt is returned when a downloaded object does not match its
// digest or cannot be decompressed: a damaged or truncated object.
var ErrCorrupt = errors.New("damaged object")

// Store is a cache in one bucket under one prefix.
type Store struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
	url    string
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
	return &Store{client: client, bucket: bucket, prefix: prefix, url: rawURL}, nil
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
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil || e.Key != k || e.Format > entryFormat {
		return Entry{}, false, nil // foreign, torn or of a later imgbuild: a miss
	}
	return e, true, nil
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

// PutFile stores the file at path as a blob, unless a blob of that content
// is stored already, and returns its description. The file is read twice:
// once for its digest (which names the blob), once streamed through zstd
// into a multipart upload, so memory stays flat whatever its size.
func (s *Store) PutFile(ctx context.Context, role, path string) (File, error) {
	digest, size, err := fileDigest(path)
	if err != nil {
		return File{}, err
	}
	f := File{Role: role, Digest: digest, Size: size}
	_, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.key(blobName(digest))})
	if err == nil {
		// Stored already: marked, so that a prune by age running before
		// this runner's entry names it does not take it away.
		return f, s.markReused(ctx, digest)
	}
	if !isNotFound(err) {
		return File{}, err
	}
	in, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer in.Close()
	pr, pw := io.Pipe()
	go func() {
		enc, err := zstd.NewWriter(pw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err == nil {
			_, err = io.Copy(enc, in)
			err = errors.Join(err, enc.Close())
		}
		pw.CloseWithError(err)
	}()
	up := manager.NewUploader(s.client, func(u *manager.Uploader) {
		u.PartSize = 8 << 20 // with 2 in flight: ~30 MiB of buffers; 80 GB at most (10,000 parts)
		u.Concurrency = 2
	})
	// The uploader aborts a failed multipart upload with the context it
	// was given: under the build's, a cancelled build (Ctrl-C, a timeout)
	// would leave its parts on the server. So the upload runs under a
	// context of its own, and the build's end cuts its body instead; the
	// upload then fails and is aborted, given 30 s for that.
	upCtx, cancelUp := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelUp()
	stop := context.AfterFunc(ctx, func() {
		pr.CloseWithError(context.Cause(ctx))
		time.AfterFunc(30*time.Second, cancelUp)
	})
	defer stop()
	_, err = up.Upload(upCtx, &s3.PutObjectInput{Bucket: &s.bucket, Key: s.key(blobName(digest)), Body: pr})
	pr.CloseWithError(err) // stops the encoder when the upload failed
	if err != nil {
		return File{}, fmt.Errorf("uploading %s: %w", filepath.Base(path), err)
	}
	return f, nil
}

// FetchFile downloads f into dst (created, mode 0600), streaming it
// through zstd, and verifies its size and digest. A mismatch or a stream
// that does not decompress is ErrCorrupt; dst is removed on any error.
func (s *Store) FetchFile(ctx context.Context, f File, dst string) (err error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(blobName(f.Digest))})
	if isNotFound(err) {
		return fmt.Errorf("%w: %s is missing", ErrCorrupt, blobName(f.Digest))
	}
	if err != nil {
		return err
	}
	defer out.Body.Close()
	w, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	body := &watchedReader{r: out.Body}
	dec, err := zstd.NewReader(body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return err
	}
	defer dec.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), dec)
	if err != nil {
		if body.err != nil { // the connection, not the content
			return fmt.Errorf("downloading %s: %w", blobName(f.Digest), body.err)
		}
		return fmt.Errorf("%w: %s does not decompress: %v", ErrCorrupt, blobName(f.Digest), err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); n != f.Size || got != f.Digest {
		return fmt.Errorf("%w: %s holds %d bytes with digest %s, not %d bytes with %s", ErrCorrupt, blobName(f.Digest), n, got, f.Size, f.Digest)
	}
	return nil
}

// watchedReader remembers the error of the reader under the decoder, to
// tell a dropped connection from damaged content.
type watchedReader struct {
	r   io.Reader
	err error
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF {
		w.err = err
	}
	return n, err
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
