package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func openTestStore(t *testing.T) (*Store, testenv.S3) {
	t.Helper()
	srv := testenv.UseS3(t)
	s, err := Open(context.Background(), srv.URL("ci/cache"))
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

func TestParseURLSplitsBucketAndPrefixAndRefusesOtherSchemes(t *testing.T) {
	for raw, want := range map[string][2]string{
		"s3://b":          {"b", ""},
		"s3://b/":         {"b", ""},
		"s3://b/x/y":      {"b", "x/y/"},
		"s3://b/x/y/":     {"b", "x/y/"},
		"s3://my.bucket/": {"my.bucket", ""},
	} {
		b, p, err := ParseURL(raw)
		if err != nil || b != want[0] || p != want[1] {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", raw, b, p, err, want[0], want[1])
		}
	}
	for _, raw := range []string{"https://b/x", "s3:///x", "b/x", "oci://host/repo"} {
		if _, _, err := ParseURL(raw); err == nil {
			t.Errorf("ParseURL(%q) accepted it", raw)
		}
	}
}

func TestAFileRoundTripsThroughTheObjectStoreCompressedAndVerified(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "layer")
	// 40 MiB, half random: several multipart parts, compressible in part.
	data := make([]byte, 40<<20)
	rand.Read(data[:20<<20])
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := s.PutFile(ctx, "layer", src)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != int64(len(data)) || len(f.Digest) != len("sha256:")+64 {
		t.Fatalf("PutFile described it as %+v", f)
	}
	head, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: aws.String("ci/cache/" + blobName(f.Digest))})
	if err != nil {
		t.Fatalf("the blob is not under the prefix, named by its digest: %v", err)
	}
	if n := aws.ToInt64(head.ContentLength); n >= int64(len(data))*3/4 {
		t.Errorf("stored blob is %d bytes for %d bytes of half-zero content: not compressed", n, len(data))
	}
	dst := filepath.Join(dir, "back")
	if err := s.FetchFile(ctx, f, dst); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Fatal("the downloaded file differs from the uploaded one")
	}
	// Stored once: the same content again is not uploaded again.
	if f2, err := s.PutFile(ctx, "final", src); err != nil || f2.Digest != f.Digest {
		t.Fatalf("second PutFile: %+v, %v", f2, err)
	}
}

func TestAFlippedByteInAStoredBlobIsReportedAsCorruptAndLeavesNoFile(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "layer")
	os.WriteFile(src, bytes.Repeat([]byte("imgbuild layer "), 100000), 0o600)
	f, err := s.PutFile(ctx, "layer", src)
	if err != nil {
		t.Fatal(err)
	}
	key := aws.String("ci/cache/" + blobName(f.Digest))
	flipStoredByte(t, srv, key)
	dst := filepath.Join(dir, "back")
	err = s.FetchFile(ctx, f, dst)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("FetchFile of a damaged blob: %v, want ErrCorrupt", err)
	}
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("the damaged download was left at %s", dst)
	}
}

// flipStoredByte rewrites an object with one byte in its middle changed.
func flipStoredByte(t *testing.T, srv testenv.S3, key *string) {
	t.Helper()
	ctx := context.Background()
	out, err := srv.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.Bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if _, err := srv.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: key, Body: bytes.NewReader(b)}); err != nil {
		t.Fatal(err)
	}
}

func TestTheFirstEntryWrittenForAKeyStaysAndTheSaltIsSharedByEveryRunner(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	if salt, err := s.ExistingSalt(ctx); err != nil || salt != nil {
		t.Fatalf("ExistingSalt of a new cache = %x, %v; want none", salt, err)
	}
	if _, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: aws.String("ci/cache/salt")}); err == nil {
		t.Fatal("ExistingSalt wrote a salt")
	}
	salt1, err := s.Salt(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	salt2, err := other.Salt(ctx)
	if err != nil || !bytes.Equal(salt1, salt2) {
		t.Fatalf("a second runner's salt differs (%v)", err)
	}
	if salt3, err := other.ExistingSalt(ctx); err != nil || !bytes.Equal(salt3, salt1) {
		t.Fatalf("ExistingSalt of an existing cache = %x, %v", salt3, err)
	}
	k := cache.Key("ab12" + string(bytes.Repeat([]byte("0"), 60)))
	first := Entry{Entry: cache.Entry{Key: k, StepName: "first"}, Version: "test"}
	if ok, err := s.PutEntry(ctx, first); err != nil || !ok {
		t.Fatalf("first PutEntry: %v, %v", ok, err)
	}
	second := first
	second.StepName = "second"
	ok, err := other.PutEntry(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	got, found, err := s.Get(ctx, k)
	if err != nil || !found {
		t.Fatalf("Get: %v, %v", found, err)
	}
	if ok || got.StepName != "first" {
		// The server ignored If-None-Match: the documented fallback.
		t.Logf("this server does not honour If-None-Match (second write: %v, entry now %q)", ok, got.StepName)
	}
	if got.Version != "test" {
		t.Errorf("the entry lost the imgbuild version that wrote it: %+v", got)
	}
}

func TestAnUnreachableServerIsAnErrorNotAHang(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s, err := Open(context.Background(), "s3://nowhere/x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Salt(context.Background()); err == nil {
		t.Fatal("reading the salt from a closed port succeeded")
	}
}

// An upload cut off by the build's end (Ctrl-C, a timeout) leaves no
// multipart upload behind on the server: it is aborted, not abandoned.
func TestACancelledUploadLeavesNoMultipartUpload(t *testing.T) {
	s, srv := openTestStore(t)
	p := filepath.Join(t.TempDir(), "layer")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	// Incompressible, several parts.
	if _, err := io.CopyN(f, rand.Reader, 48<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancelled once the multipart upload exists.
		for i := 0; i < 2000; i++ {
			out, err := srv.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket})
			if err == nil && len(out.Uploads) > 0 {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
	}()
	if _, err := s.PutFile(ctx, "layer", p); err == nil {
		t.Fatal("the upload finished before it was cancelled: this test needs a larger file")
	}
	out, err := srv.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Errorf("%d multipart upload(s) left after the cancelled upload", len(out.Uploads))
	}
}
