// Package local is a communicator for the machine imgbuild runs on: it
// runs commands with /bin/sh and copies files with the file system. The
// shell-local provisioner and post-processor use it, and so do tests that
// need a real machine without a VM.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/imgbuild/imgbuild/internal/stream"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// Comm runs commands on this machine. Relative paths are relative to Dir
// (the current directory when empty).
type Comm struct {
	Dir string
	// Env is added to the environment of every command.
	Env []string
}

var _ communicator.Communicator = (*Comm)(nil)

// Run runs cmd.Command with /bin/sh -c. When ctx ends, the command's whole
// process group is killed, so children of the shell do not linger.
func (c *Comm) Run(ctx context.Context, cmd *communicator.Cmd) (int, error) {
	return RunArgs(ctx, c.Dir, c.Env, []string{"/bin/sh", "-c", cmd.Command}, cmd.Stdin, cmd.Stdout, cmd.Stderr)
}

// RunArgs runs argv in dir with env added to this process's environment
// and returns its exit status.
func RunArgs(ctx context.Context, dir string, env, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("running a local command: empty command line")
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	c.Stdin = stdin
	c.Stdout = stdout
	c.Stderr = stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	// Output pipes held open by grandchildren must not keep Wait blocked.
	c.WaitDelay = 2 * time.Second
	err := c.Run()
	if err == nil {
		return 0, nil
	}
	if ctx.Err() != nil {
		return -1, fmt.Errorf("running %q: %w", argv[0], context.Cause(ctx))
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return 128 + int(st.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return -1, fmt.Errorf("running %q: %w", argv[0], err)
}

func (c *Comm) path(p string) string {
	if filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	j := filepath.Join(c.Dir, p)
	if strings.HasSuffix(p, "/") { // the trailing-slash rule needs it
		j += "/"
	}
	return j
}

// Upload writes r to dst, creating dst's folder when missing.
func (c *Comm) Upload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	if mode == 0 {
		mode = 0o644
	}
	dst = c.path(dst)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("uploading to %s: %w", dst, err)
	}
	return writeFile(ctx, dst, r, mode)
}

func writeFile(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm())
	if err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	_, err = io.Copy(f, stream.Reader(ctx, r))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(dst, mode.Perm())
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}

// UploadDir copies the folder src into dst with Packer's trailing-slash rule.
func (c *Comm) UploadDir(ctx context.Context, dst, src string, exclude []string) error {
	return copyDir(ctx, src, c.path(dst), exclude)
}

// Download copies the file src to w.
func (c *Comm) Download(ctx context.Context, src string, w io.Writer) error {
	f, err := os.Open(c.path(src))
	if err != nil {
		return fmt.Errorf("downloading %s: %w", src, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, stream.Reader(ctx, f)); err != nil {
		return fmt.Errorf("downloading %s: %w", src, err)
	}
	return nil
}

// DownloadDir copies the folder src to dst with the trailing-slash rule.
func (c *Comm) DownloadDir(ctx context.Context, src, dst string, exclude []string) error {
	return copyDir(ctx, c.path(src), dst, exclude)
}

// copyDir copies a folder tree: when src ends in "/" its contents go into
// dst, otherwise into dst/<base of src>. Modes are kept; symlinks are
// copied as links.
func copyDir(ctx context.Context, src, dst string, exclude []string) error {
	if !strings.HasSuffix(src, "/") {
		dst = filepath.Join(dst, filepath.Base(src))
	}
	root := filepath.Clean(src)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("copying %s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel != "." && excluded(rel, exclude) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("copying %s: %w", p, err)
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("creating %s: %w", target, err)
			}
			return os.Chmod(target, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("reading link %s: %w", p, err)
			}
			_ = os.Remove(target)
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("copying %s: %w", p, err)
			}
			defer f.Close()
			return writeFile(ctx, target, f, info.Mode())
		}
		return nil // sockets, devices: not copied
	})
}

func excluded(rel string, patterns []string) bool {
	for _, pat := range patterns {
		if ok, _ := filepath.Match(pat, rel); ok {
			return true
		}
	}
	return false
}
