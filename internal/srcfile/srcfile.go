// Package srcfile reads the files imgbuild parses as text: templates, var
// files and templatefile's templates. It reads regular files only and at
// most MaxSize bytes, so that -var-file=/dev/zero or a named pipe called
// x.pkr.hcl is an error that names the file, not a process that fills
// memory or waits forever.
package srcfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxSize is the most Read returns. The largest real templates are a few
// KB and 40,000 generated locals take under 1 MiB; 4 MiB leaves room for
// anything a person or a generator writes.
const MaxSize = 4 << 20

// Read returns the contents of the regular file at path (a symbolic link
// to one is followed).
func Read(path string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer before the type check below could refuse it. Regular files
	// ignore the flag.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file; give the path of a file", path, kind(st.Mode()))
	}
	if st.Size() > MaxSize {
		return nil, tooLarge(path)
	}
	return readAtMost(path, f)
}

// ReadFrom reads r, named name in errors (standard input), up to MaxSize.
func ReadFrom(name string, r io.Reader) ([]byte, error) {
	return readAtMost(name, r)
}

// readAtMost reads r, and fails when it holds more than MaxSize bytes
// (a file can grow after its size was checked).
func readAtMost(name string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, tooLarge(name)
	}
	return b, nil
}

func tooLarge(name string) error {
	return fmt.Errorf("%s is larger than %d MiB, the most imgbuild reads from a template or variable file; "+
		"split it into several files", name, MaxSize>>20)
}

// kind names a file type that is not a regular file, with its article.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "an irregular file"
}
