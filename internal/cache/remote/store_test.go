package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
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

func TestAFileRoundTripsThroughTheObjectStoreInChunksCompressedAndVerified(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "layer")
	// 40 MiB, half random: many chunks, compressible in part.
	data := make([]byte, 40<<20)
	rand.Read(data[:20<<20])
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := s.PutFile(ctx, "layer", src)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != int64(len(data)) || f.Digest != cache.Digest(data) || len(f.Chunks) < 5 {
		t.Fatalf("PutFile described it as %s, %d bytes, %d chunks", f.Digest, f.Size, len(f.Chunks))
	}
	var stored, off int64
	for _, c := range f.Chunks {
		if c.Digest != cache.Digest(data[off:off+c.Size]) {
			t.Fatalf("chunk at %d is not named by its content's digest", off)
		}
		off += c.Size
		head, err := srv.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.Bucket, Key: aws.String("ci/cache/" + blobName(c.Digest))})
		if err != nil {
			t.Fatalf("a chunk's blob is not under the prefix, named by its digest: %v", err)
		}
		stored += aws.ToInt64(head.ContentLength)
	}
	if stored >= int64(len(data))*3/4 {
		t.Errorf("stored blobs are %d bytes for %d bytes of half-zero content: not compressed", stored, len(data))
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
	before := countBlobs(t, srv)
	if f2, err := s.PutFile(ctx, "final", src); err != nil || f2.Digest != f.Digest || len(f2.Chunks) != len(f.Chunks) {
		t.Fatalf("second PutFile: %+v, %v", f2, err)
	}
	if after := countBlobs(t, srv); after != before {
		t.Errorf("the same content stored again made %d more blobs", after-before)
	}
}

func TestAnEmptyFileRoundTrips(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "empty")
	os.WriteFile(src, nil, 0o600)
	f, err := s.PutFile(ctx, "layer", src)
	if err != nil || f.Size != 0 || len(f.Chunks) != 1 {
		t.Fatalf("PutFile of an empty file: %+v, %v", f, err)
	}
	if err := s.FetchFile(ctx, f, filepath.Join(dir, "back")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "back")); err != nil || fi.Size() != 0 {
		t.Fatalf("the downloaded empty file: %v, %v", fi, err)
	}
}

// countBlobs returns how many blobs the test cache holds.
func countBlobs(t *testing.T, srv testenv.S3) int {
	t.Helper()
	n := 0
	p := s3.NewListObjectsV2Paginator(srv.Client, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("ci/cache/blobs/")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Contents)
	}
	return n
}

// A checkpoint's cumulative layer holds the one before it with more
// appended, and a few bytes changed in its middle: its upload adds the
// chunks around the changes, not the whole file.
func TestAFileThatSharesMostOfAnotherStoresOnlyTheChunksThatDiffer(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	// Seeded: where content-defined cuts fall depends on the bytes, and
	// the bound below must hold for the content tested, every time.
	random := mrand.NewChaCha8([32]byte{'i', 'm', 'g', 'b', 'u', 'i', 'l', 'd'})
	first := make([]byte, 32<<20)
	random.Read(first)
	more := make([]byte, 16<<20)
	random.Read(more)
	second := append(append(append(append([]byte(nil), first[:7<<20]...), "inserted"...), first[7<<20:]...), more...)
	p1, p2 := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	os.WriteFile(p1, first, 0o600)
	os.WriteFile(p2, second, 0o600)
	f1, err := s.PutFile(ctx, "layer", p1)
	if err != nil {
		t.Fatal(err)
	}
	before := countBlobs(t, srv)
	if before != len(f1.Chunks) {
		t.Fatalf("%d blobs for %d chunks", before, len(f1.Chunks))
	}
	// Another runner (no memory of what the first stored) uploads the second.
	other, err := Open(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	f2, err := other.PutFile(ctx, "layer", p2)
	if err != nil {
		t.Fatal(err)
	}
	had := map[string]bool{}
	for _, c := range f1.Chunks {
		had[c.Digest] = true
	}
	var added int64
	newChunks := map[string]bool{}
	for _, c := range f2.Chunks {
		if !had[c.Digest] {
			added += c.Size
			newChunks[c.Digest] = true
		}
	}
	newBlobs := countBlobs(t, srv) - before
	if newBlobs != len(newChunks) {
		t.Errorf("the second upload stored %d blobs for its %d new chunks", newBlobs, len(newChunks))
	}
	t.Logf("second file: %d chunks, %d new blobs, %.1f MiB of %.1f MiB new", len(f2.Chunks), newBlobs, float64(added)/(1<<20), float64(len(second))/(1<<20))
	// New: what was appended, the chunk the insertion falls in and the
	// one the first file's end cut short (each at most maxChunk). Without
	// sharing it would be all 48 MiB.
	if added > int64(len(more))+2*maxChunk || added < int64(len(more)) {
		t.Errorf("the second upload added %d of its %d bytes; want the 16 MiB appended and two chunks more at most", added, len(second))
	}
	dst := filepath.Join(dir, "back")
	if err := s.FetchFile(ctx, f2, dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, second) {
		t.Fatal("the second file does not download as it was")
	}
}

func TestAFlippedByteInAStoredChunkIsReportedAsCorruptNamingItAndLeavesNoFile(t *testing.T) {
	s, srv := openTestStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "layer")
	data := make([]byte, 24<<20)
	rand.Read(data)
	os.WriteFile(src, data, 0o600)
	f, err := s.PutFile(ctx, "layer", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Chunks) < 3 {
		t.Fatalf("%d chunks: this test needs several", len(f.Chunks))
	}
	damaged := f.Chunks[len(f.Chunks)/2].Digest
	flipStoredByte(t, srv, aws.String("ci/cache/"+blobName(damaged)))
	dst := filepath.Join(dir, "back")
	err = s.FetchFile(ctx, f, dst)
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Digest != damaged {
		t.Fatalf("FetchFile of a damaged chunk: %v, want ErrCorrupt naming chunk %s", err, damaged)
	}
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("the damaged download was left at %s", dst)
	}
	// Read from a stream, the damage is an error, never a clean end.
	r, err := s.OpenFile(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := io.Copy(io.Discard, r); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading a damaged file: %d bytes, %v; want ErrCorrupt", n, err)
	}
}

// An entry whose chunks are all intact but do not make up its file (a
// chunk list from another file) is damaged too.
func TestChunksThatDoNotMakeUpTheFileAreCorrupt(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	data := make([]byte, 2*maxChunk) // two chunks at least, whatever the content
	rand.Read(data)
	p := filepath.Join(dir, "a")
	os.WriteFile(p, data, 0o600)
	f, err := s.PutFile(ctx, "layer", p)
	if err != nil || len(f.Chunks) < 2 {
		t.Fatalf("PutFile: %d chunks, %v", len(f.Chunks), err)
	}
	swapped := f
	swapped.Chunks = append([]Chunk{f.Chunks[1], f.Chunks[0]}, f.Chunks[2:]...)
	if err := s.FetchFile(ctx, swapped, filepath.Join(dir, "b")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("chunks out of order: %v, want ErrCorrupt", err)
	}
	short := f
	short.Chunks = f.Chunks[1:]
	if err := s.FetchFile(ctx, short, filepath.Join(dir, "c")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a chunk left out: %v, want ErrCorrupt", err)
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
// multipart upload and no partial blob behind: every blob stored holds
// a whole chunk.
func TestACancelledUploadLeavesNoMultipartUploadNorPartialBlob(t *testing.T) {
	s, srv := openTestStore(t)
	p := filepath.Join(t.TempDir(), "layer")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	// Incompressible, many chunks.
	if _, err := io.CopyN(f, rand.Reader, 96<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancelled once the first chunk is stored.
		for i := 0; i < 2000 && countBlobs(t, srv) == 0; i++ {
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
	list, err := srv.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("ci/cache/blobs/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) == 96<<20/avgChunk {
		t.Log("every chunk was stored before the cancel took effect")
	}
	for _, o := range list.Contents {
		want := "sha256:" + strings.TrimSuffix(path.Base(aws.ToString(o.Key)), ".zst")
		obj, err := srv.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &srv.Bucket, Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		z, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		data, err := s.dec.DecodeAll(z, nil)
		if err != nil || cache.Digest(data) != want {
			t.Errorf("blob %s left by the cancelled upload is not a whole chunk (%v)", want, err)
		}
	}
}
