package srcfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

func TestReadRefusesANamedPipeWithoutWaitingForAWriter(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "x.pkr.hcl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(fifo); done <- err }()
	select {
	case err := <-done:
		wantErr(t, err, fifo, "named pipe", "not a regular file")
	case <-time.After(30 * time.Second): // a hang guard, not a speed check
		// Unblock the reader so the test process can end.
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("Read is still waiting for a writer on a named pipe")
	}
}

func TestReadRefusesDevicesAndDirectories(t *testing.T) {
	_, err := Read("/dev/zero")
	wantErr(t, err, "/dev/zero", "character device")
	dir := t.TempDir()
	_, err = Read(dir)
	wantErr(t, err, dir, "directory")
}

func TestReadRefusesAFileLargerThanMaxSizeAndNamesTheLimit(t *testing.T) {
	dir := t.TempDir()
	sparse := func(name string, size int64) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, err := Read(sparse("big.pkr.hcl", MaxSize+1))
	wantErr(t, err, "big.pkr.hcl", "larger than 4 MiB")
	b, err := Read(sparse("limit.pkr.hcl", MaxSize))
	if err != nil || len(b) != MaxSize {
		t.Fatalf("a file of exactly MaxSize: %d bytes, %v", len(b), err)
	}
}

func TestReadFollowsASymlinkToARegularFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.pkr.hcl")
	if err := os.WriteFile(target, []byte("locals {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pkr.hcl")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(link); err != nil || string(b) != "locals {}\n" {
		t.Fatalf("Read(link) = %q, %v", b, err)
	}
}

// endless is an infinite stream that counts what was read from it.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	e.n += int64(len(p))
	return len(p), nil
}

func TestReadFromStopsReadingJustPastMaxSize(t *testing.T) {
	src := &endless{}
	_, err := ReadFrom("standard input", src)
	wantErr(t, err, "standard input", "larger than 4 MiB")
	if src.n > 2*MaxSize {
		t.Errorf("read %d bytes of an endless stream; want at most about MaxSize (%d)", src.n, MaxSize)
	}
	if b, err := ReadFrom("x", strings.NewReader("short")); err != nil || string(b) != "short" {
		t.Errorf("short input: %q, %v", b, err)
	}
}

func TestReadReturnsTheOSErrorForAMissingFile(t *testing.T) {
	var pe *os.PathError
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); !errors.As(err, &pe) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v; want the os error", err)
	}
}
