package ssh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/imgbuild/imgbuild/internal/stream"

	gossh "golang.org/x/crypto/ssh"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// scpSession speaks the scp protocol with a remote "scp -t" (sink, for
// uploads) or "scp -f" (source, for downloads).
type scpSession struct {
	sess   *gossh.Session
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tailBuffer
	stop   func() bool
}

func (c *Comm) scpStart(ctx context.Context, command string) (*scpSession, error) {
	client, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("opening an ssh session: %w", c.lost(err))
	}
	s := &scpSession{sess: sess, stderr: &tailBuffer{max: 4096}}
	sess.Stderr = s.stderr
	if s.in, err = sess.StdinPipe(); err != nil {
		sess.Close()
		return nil, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	s.out = bufio.NewReaderSize(stdout, 64<<10)
	if err := sess.Start(command); err != nil {
		sess.Close()
		return nil, fmt.Errorf("starting %q: %w", command, c.lost(err))
	}
	s.stop = context.AfterFunc(ctx, func() { sess.Close() })
	return s, nil
}

// fail adds what scp said on stderr to err.
func (s *scpSession) fail(err error) error {
	s.stop()
	s.sess.Close()
	if msg := strings.TrimSpace(s.stderr.String()); msg != "" {
		return fmt.Errorf("%w (remote scp: %s)", err, msg)
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w (is scp installed on the machine? ssh_file_transfer_method = \"sftp\" is the alternative)", err)
	}
	return err
}

// finish closes the input and waits for the remote scp to exit.
func (s *scpSession) finish() error {
	defer s.stop()
	s.in.Close()
	err := s.sess.Wait()
	s.sess.Close()
	if err == nil {
		return nil
	}
	var exit *gossh.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("remote scp exited with status %d: %s", exit.ExitStatus(), strings.TrimSpace(s.stderr.String()))
	}
	return fmt.Errorf("remote scp: %v: %w", err, communicator.ErrDisconnected)
}

// ack reads the peer's response: 0 is success, 1 and 2 carry a message.
func (s *scpSession) ack() error {
	b, err := s.out.ReadByte()
	if err != nil {
		return fmt.Errorf("reading the scp response: %w", err)
	}
	if b == 0 {
		return nil
	}
	line, _ := s.out.ReadString('\n')
	return fmt.Errorf("scp: %s", strings.TrimSpace(line))
}

func (s *scpSession) ok() error {
	_, err := s.in.Write([]byte{0})
	return err
}

// send writes a protocol line and waits for its acknowledgement.
func (s *scpSession) send(line string) error {
	if _, err := io.WriteString(s.in, line); err != nil {
		return fmt.Errorf("writing to scp: %w", err)
	}
	return s.ack()
}

// sendFile sends one file record and its contents.
func (s *scpSession) sendFile(name string, mode fs.FileMode, size int64, r io.Reader) error {
	if strings.ContainsAny(name, "\n/") {
		return fmt.Errorf("file name %q cannot be sent over scp", name)
	}
	if err := s.send(fmt.Sprintf("C%04o %d %s\n", communicator.UnixMode(mode), size, name)); err != nil {
		return err
	}
	n, err := io.CopyN(s.in, r, size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the source of %s ended after %d of %d bytes", name, n, size)
		}
		return fmt.Errorf("sending %s: %w", name, err)
	}
	if err := s.ok(); err != nil {
		return fmt.Errorf("sending %s: %w", name, err)
	}
	return s.ack()
}

func (c *Comm) scpUpload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	sr, size, cleanup, err := stream.Sized(r)
	if err != nil {
		return err
	}
	defer cleanup()
	dir, name := path.Split(dst)
	if dir == "" {
		dir = "."
	}
	if name == "" {
		return fmt.Errorf("%q names a directory, not a file", dst)
	}
	s, err := c.scpStart(ctx, "scp -p -t -- "+shellQuote(dir))
	if err != nil {
		return err
	}
	if err := s.ack(); err != nil {
		return s.fail(err)
	}
	if err := s.sendFile(name, mode, size, stream.Reader(ctx, sr)); err != nil {
		return s.fail(err)
	}
	if err := s.finish(); err != nil {
		return err
	}
	if mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		// scp drops these bits on purpose; set them as asked.
		return c.chmod(ctx, dst, mode)
	}
	return nil
}

// chmod sets a remote file's mode exactly.
func (c *Comm) chmod(ctx context.Context, file string, mode fs.FileMode) error {
	var stderr tailBuffer
	stderr.max = 2048
	status, err := c.Run(ctx, &communicator.Cmd{Command: fmt.Sprintf("chmod %04o -- %s", communicator.UnixMode(mode), shellQuote(file)), Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("setting the mode of %s: %w", file, err)
	}
	if status != 0 {
		return fmt.Errorf("setting the mode of %s: chmod exited with status %d: %s", file, status, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func (c *Comm) scpUploadDir(ctx context.Context, dst, src string, exclude []string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	if err := c.mkdirAll(ctx, dst); err != nil {
		return err
	}
	s, err := c.scpStart(ctx, "scp -r -p -t -- "+shellQuote(dst))
	if err != nil {
		return err
	}
	if err := s.ack(); err != nil {
		return s.fail(err)
	}
	wrap := !strings.HasSuffix(src, "/")
	if wrap {
		if err := s.send(fmt.Sprintf("D%04o 0 %s\n", communicator.UnixMode(st.Mode()), filepath.Base(filepath.Clean(src)))); err != nil {
			return s.fail(err)
		}
	}
	err = walkLocal(src, exclude, func(e localEntry) error {
		if e.info.IsDir() {
			return s.send(fmt.Sprintf("D%04o 0 %s\n", communicator.UnixMode(e.info.Mode()), path.Base(e.rel)))
		}
		f, err := os.Open(e.abs)
		if err != nil {
			return err
		}
		defer f.Close()
		return s.sendFile(path.Base(e.rel), e.info.Mode(), e.info.Size(), stream.Reader(ctx, f))
	}, func(localEntry) error { return s.send("E\n") })
	if err == nil && wrap {
		err = s.send("E\n")
	}
	if err != nil {
		return s.fail(err)
	}
	return s.finish()
}

// mkdirAll creates a directory and its parents on the machine.
func (c *Comm) mkdirAll(ctx context.Context, dir string) error {
	var stderr tailBuffer
	stderr.max = 2048
	status, err := c.Run(ctx, &communicator.Cmd{Command: "mkdir -p -- " + shellQuote(dir), Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if status != 0 {
		return fmt.Errorf("creating %s: mkdir exited with status %d: %s", dir, status, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// scpRecord is a parsed "C", "D", "E" or "T" line from a remote scp source.
type scpRecord struct {
	kind byte
	mode fs.FileMode
	size int64
	name string
}

func (s *scpSession) readRecord() (scpRecord, error) {
	line, err := s.out.ReadString('\n')
	if err != nil {
		return scpRecord{}, fmt.Errorf("reading from scp: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	if line == "" {
		return scpRecord{}, errors.New("scp sent an empty line")
	}
	rec := scpRecord{kind: line[0]}
	switch rec.kind {
	case 1, 2:
		return rec, fmt.Errorf("scp: %s", strings.TrimSpace(line[1:]))
	case 'E', 'T':
		return rec, nil
	case 'C', 'D':
		parts := strings.SplitN(line[1:], " ", 3)
		if len(parts) != 3 {
			return rec, fmt.Errorf("scp sent a malformed line %q", line)
		}
		m, err1 := strconv.ParseUint(parts[0], 8, 32)
		size, err2 := strconv.ParseInt(parts[1], 10, 64)
		if err1 != nil || err2 != nil || size < 0 || parts[2] == "" || strings.Contains(parts[2], "/") || parts[2] == ".." {
			return rec, fmt.Errorf("scp sent a malformed line %q", line)
		}
		rec.mode, rec.size, rec.name = communicator.GoMode(uint32(m)), size, parts[2]
		return rec, nil
	default:
		return rec, fmt.Errorf("scp sent an unexpected line %q", line)
	}
}

func (c *Comm) scpDownload(ctx context.Context, src string, w io.Writer) error {
	s, err := c.scpStart(ctx, "scp -f -- "+shellQuote(src))
	if err != nil {
		return err
	}
	if err := s.ok(); err != nil {
		return s.fail(err)
	}
	rec, err := s.readRecord()
	if err != nil {
		return s.fail(err)
	}
	if rec.kind != 'C' {
		return s.fail(fmt.Errorf("%s is not a regular file", src))
	}
	if err := s.ok(); err != nil {
		return s.fail(err)
	}
	if _, err := io.CopyN(stream.Writer(ctx, w), s.out, rec.size); err != nil {
		return s.fail(err)
	}
	if err := s.ack(); err != nil {
		return s.fail(err)
	}
	if err := s.ok(); err != nil {
		return s.fail(err)
	}
	return s.finish()
}

func (c *Comm) scpDownloadDir(ctx context.Context, src, dst string, exclude []string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	s, err := c.scpStart(ctx, "scp -r -f -- "+shellQuote(strings.TrimSuffix(src, "/")))
	if err != nil {
		return err
	}
	if err := s.ok(); err != nil {
		return s.fail(err)
	}
	if err := s.receiveTree(ctx, src, dst, exclude); err != nil {
		return s.fail(err)
	}
	return s.finish()
}

// receiveTree reads the records of a recursive scp source into dst.
func (s *scpSession) receiveTree(ctx context.Context, src, dst string, exclude []string) error {
	type dir struct {
		local string // "" while skipping an excluded directory
		rel   string
		mode  fs.FileMode
	}
	var stack []dir
	for {
		rec, err := s.readRecord()
		if err != nil {
			return err
		}
		switch rec.kind {
		case 'T':
		case 'D':
			var d dir
			switch {
			case len(stack) == 0 && strings.HasSuffix(src, "/"):
				d = dir{local: dst} // contents go into dst; dst keeps its mode
			case len(stack) == 0:
				d = dir{local: filepath.Join(dst, rec.name), mode: rec.mode}
			default:
				parent := stack[len(stack)-1]
				d.rel = path.Join(parent.rel, rec.name)
				if parent.local != "" && !excluded(d.rel, exclude) {
					d.local, d.mode = filepath.Join(parent.local, rec.name), rec.mode
				}
			}
			if d.local != "" {
				if err := os.MkdirAll(d.local, 0o700); err != nil {
					return err
				}
			}
			stack = append(stack, d)
		case 'C':
			if len(stack) == 0 {
				return fmt.Errorf("%s is a file, not a directory", src)
			}
			parent := stack[len(stack)-1]
			rel := path.Join(parent.rel, rec.name)
			if err := s.ok(); err != nil {
				return err
			}
			var w io.Writer = io.Discard
			var f *os.File
			if parent.local != "" && !excluded(rel, exclude) {
				if f, err = createLocal(filepath.Join(parent.local, rec.name), rec.mode); err != nil {
					return err
				}
				w = f
			}
			_, err = io.CopyN(stream.Writer(ctx, w), s.out, rec.size)
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return fmt.Errorf("receiving %s: %w", rel, err)
			}
			if err := s.ack(); err != nil {
				return err
			}
		case 'E':
			if len(stack) == 0 {
				return errors.New("scp sent an unbalanced end of directory")
			}
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			// Modes last, so that read-only directories could be filled.
			if d.local != "" && d.mode != 0 {
				if err := os.Chmod(d.local, d.mode); err != nil {
					return err
				}
			}
		}
		if err := s.ok(); err != nil {
			return err
		}
		if rec.kind == 'E' && len(stack) == 0 {
			return nil
		}
	}
}

// tailBuffer keeps the last max bytes written to it (remote stderr for
// error messages), so that a chatty command cannot use up memory.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
