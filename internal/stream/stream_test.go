package stream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func TestSizedKnowsFilesAndBuffersWithoutSpooling(t *testing.T) {
	f, _ := os.CreateTemp(t.TempDir(), "f")
	f.WriteString("0123456789")
	f.Seek(4, io.SeekStart)
	for name, r := range map[string]io.Reader{"file at offset": f, "buffer": bytes.NewBufferString("abcdef")} {
		sr, n, cleanup, err := Sized(r)
		cleanup()
		if err != nil || n != 6 || sr != r {
			t.Errorf("%s: Sized = %d, same reader %v, %v; want 6 and no spool", name, n, sr == r, err)
		}
	}
}

func TestSizedSpoolsUnknownStreamsToDiskAndRemovesThem(t *testing.T) {
	sr, n, cleanup, err := Sized(io.MultiReader(strings.NewReader("abc"), strings.NewReader("de")))
	if err != nil || n != 5 {
		t.Fatalf("Sized = %d, %v", n, err)
	}
	spool := sr.(*os.File).Name()
	if b, _ := io.ReadAll(sr); string(b) != "abcde" {
		t.Fatalf("spooled content %q", b)
	}
	cleanup()
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Fatal("cleanup left the spool file")
	}
}

func TestReaderStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := Reader(ctx, strings.NewReader("data"))
	cancel()
	if _, err := r.Read(make([]byte, 4)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel = %v", err)
	}
}
