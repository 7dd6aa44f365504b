package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// The S3-compatible server testdata/s3-server.sh starts (versitygw).
// IMGBUILD_TEST_S3_ENDPOINT, _ACCESS_KEY and _SECRET_KEY point the tests
// at another one (MinIO, moto's S3 on http://127.0.0.1:5055).
const (
	S3Endpoint  = "http://127.0.0.1:5070"
	s3AccessKey = "imgbuild-test"
	s3SecretKey = "imgbuild-test-secret"
)

// S3 is a fresh bucket on the test S3 server.
type S3 struct {
	Endpoint string
	Bucket   string
	Client   *s3.Client // for tests that look at or damage stored objects
}

// URL is s3://<bucket>/<prefix>.
func (s S3) URL(prefix string) string { return "s3://" + s.Bucket + "/" + prefix }

// UseS3 points the AWS SDK, for the rest of the test, at the test S3
// server (AWS_ENDPOINT_URL_S3, its credentials, us-east-1, no AWS files)
// and creates a bucket of the test's own, emptied and removed when it
// ends. When the server is not listening it calls Unavailable.
func UseS3(t testing.TB) S3 {
	t.Helper()
	return useS3At(t, envOr("IMGBUILD_TEST_S3_ENDPOINT", S3Endpoint),
		envOr("IMGBUILD_TEST_S3_ACCESS_KEY", s3AccessKey), envOr("IMGBUILD_TEST_S3_SECRET_KEY", s3SecretKey))
}

// VersityGW is the S3 server binary testdata/s3-server.sh builds.
func VersityGW() string {
	return filepath.Join(StateDir(), "versitygw", "v1.8.0", "versitygw")
}

// UseOwnS3 starts an S3 server of the test's own (versitygw on a free
// loopback port, objects in a temporary folder), points the AWS SDK at
// it as UseS3 does and returns it with a function that stops the server
// (for tests of a server that goes away); it is stopped when the test
// ends in any case.
func UseOwnS3(t testing.TB) (S3, func()) {
	t.Helper()
	bin := VersityGW()
	if _, err := os.Stat(bin); err != nil {
		Unavailable(t, "versitygw is not built (testdata/s3-server.sh): "+err.Error())
		return S3{}, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	root, meta := t.TempDir(), t.TempDir()
	cmd := exec.Command(bin, "--port", addr, "posix", "--sidecar", meta, root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s3AccessKey, "ROOT_SECRET_ACCESS_KEY="+s3SecretKey)
	stop := startServer(t, cmd, "versitygw on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// No bucket removal after the stop: the server and its folder go.
	return useS3At(t, "http://"+addr, s3AccessKey, s3SecretKey, noBucketCleanup), stop
}

type s3Option int

const noBucketCleanup s3Option = 1

func useS3At(t testing.TB, endpoint, access, secret string, opts ...s3Option) S3 {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("IMGBUILD_TEST_S3_ENDPOINT: %v", err)
	}
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		Unavailable(t, "no S3 server listens on "+u.Host+" (testdata/s3-server.sh)")
		return S3{}
	}
	c.Close()
	t.Setenv("AWS_ENDPOINT_URL_S3", endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))

	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
	var b [6]byte
	rand.Read(b[:])
	bucket := "imgbuild-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("creating bucket %s on %s: %v", bucket, endpoint, err)
	}
	if len(opts) == 0 {
		t.Cleanup(func() { removeBucket(t, client, bucket) })
	}
	return S3{Endpoint: endpoint, Bucket: bucket, Client: client}
}

func removeBucket(t testing.TB, client *s3.Client, bucket string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A PUT that a cancelled upload sent may still finish on the server
	// after the bucket was emptied: empty it again then.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if !emptyBucket(ctx, t, client, bucket) {
			return
		}
		if _, err = client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err == nil {
			return
		}
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "BucketNotEmpty" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("removing bucket %s: %v", bucket, err)
}

// emptyBucket deletes every object and unfinished multipart upload in
// bucket; false (after reporting) when listing fails.
func emptyBucket(ctx context.Context, t testing.TB, client *s3.Client, bucket string) bool {
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Errorf("listing bucket %s to remove it: %v", bucket, err)
			return false
		}
		for _, o := range page.Contents {
			if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: o.Key}); err != nil {
				t.Errorf("emptying bucket %s: %v", bucket, err)
			}
		}
	}
	// A build killed mid-upload leaves an unfinished multipart upload.
	if ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket}); err == nil {
		for _, u := range ups.Uploads {
			client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId})
		}
	}
	return true
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
