package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/internal/stream"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

// sftpConcurrency is how many write requests are in flight per file, and
// sftpPacket their size; together they keep the channel window full (see
// bench/ssh_test.go).
const (
	sftpConcurrency = 64
	sftpPacket      = 32 << 10
)

func newSFTP(client *gossh.Client) (*sftp.Client, error) {
	sc, err := sftp.NewClient(client,
		sftp.UseConcurrentWrites(true),
		sftp.MaxConcurrentRequestsPerFile(sftpConcurrency),
		sftp.MaxPacketChecked(sftpPacket),
	)
	if err != nil {
		return nil, fmt.Errorf("starting sftp (is the sftp subsystem enabled on the machine? ssh_file_transfer_method = \"scp\" is the alternative): %w", err)
	}
	return sc, nil
}

func (c *Comm) sftpUpload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	sc, err := c.sftpClient(ctx)
	if err != nil {
		return err
	}
	return sftpPut(ctx, sc, sftpPath(dst), r, mode)
}

// sftpPath makes "~/x" relative ("x"): sftp paths are relative to the
// login's home already, and the server does not expand "~" as scp's shell
// does.
func sftpPath(p string) string {
	if p == "~" {
		return "."
	}
	return strings.TrimPrefix(p, "~/")
}

func sftpPut(ctx context.Context, sc *sftp.Client, dst string, r io.Reader, mode fs.FileMode) error {
	f, err := sc.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	// Concurrency whatever the reader: ReadFrom would fall back to
	// one request at a time for readers of unknown size.
	_, err = f.ReadFromWithConcurrency(stream.Reader(ctx, r), sftpConcurrency)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *Comm) sftpDownload(ctx context.Context, src string, w io.Writer) error {
	sc, err := c.sftpClient(ctx)
	if err != nil {
		return err
	}
	f, err := sc.Open(sftpPath(src))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	_, err = f.WriteTo(stream.Writer(ctx, w))
	return err
}

func (c *Comm) sftpUploadDir(ctx context.Context, dst, src string, exclude []string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	sc, err := c.sftpClient(ctx)
	if err != nil {
		return err
	}
	root := remoteDirTarget(sftpPath(dst), src)
	if err := sc.MkdirAll(root); err != nil {
		return fmt.Errorf("creating %s: %w", root, err)
	}
	err = walkLocal(src, exclude, func(e localEntry) error {
		remote := path.Join(root, e.rel)
		if e.info.IsDir() {
			if err := sc.Mkdir(remote); err != nil {
				if st, serr := sc.Stat(remote); serr != nil || !st.IsDir() {
					return fmt.Errorf("creating %s: %w", remote, err)
				}
			}
			return nil
		}
		f, err := os.Open(e.abs)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := sftpPut(ctx, sc, remote, f, e.info.Mode()); err != nil {
			return fmt.Errorf("uploading %s: %w", e.rel, err)
		}
		return nil
	}, func(e localEntry) error {
		// Modes last, so that read-only directories could be filled.
		return sc.Chmod(path.Join(root, e.rel), e.info.Mode()&(fs.ModePerm|fs.ModeSetgid|fs.ModeSticky))
	})
	if err != nil {
		return err
	}
	if !strings.HasSuffix(src, "/") {
		return sc.Chmod(root, st.Mode()&(fs.ModePerm|fs.ModeSetgid|fs.ModeSticky))
	}
	return nil
}

func (c *Comm) sftpDownloadDir(ctx context.Context, src, dst string, exclude []string) error {
	sc, err := c.sftpClient(ctx)
	if err != nil {
		return err
	}
	st, err := sc.Stat(sftpPath(src))
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is a file, not a directory", src)
	}
	root := localDirTarget(dst, src)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if err := sftpGetTree(ctx, sc, path.Clean(sftpPath(src)), root, "", exclude, 0); err != nil {
		return err
	}
	if !strings.HasSuffix(src, "/") {
		return os.Chmod(root, st.Mode()&(fs.ModePerm|fs.ModeSetgid|fs.ModeSticky))
	}
	return nil
}

func sftpGetTree(ctx context.Context, sc *sftp.Client, remote, local, rel string, exclude []string, depth int) error {
	if depth > 40 {
		return fmt.Errorf("%s: directories nested too deep (a symbolic link loop?)", remote)
	}
	entries, err := sc.ReadDirContext(ctx, remote)
	if err != nil {
		return fmt.Errorf("listing %s: %w", remote, err)
	}
	for _, e := range entries {
		childRemote := path.Join(remote, e.Name())
		childLocal := filepath.Join(local, e.Name())
		childRel := path.Join(rel, e.Name())
		if excluded(childRel, exclude) {
			continue
		}
		info := fs.FileInfo(e)
		if e.Mode()&fs.ModeSymlink != 0 {
			if info, err = sc.Stat(childRemote); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // a dangling link
				}
				return err
			}
		}
		switch {
		case info.IsDir():
			if err := os.MkdirAll(childLocal, 0o700); err != nil {
				return err
			}
			if err := sftpGetTree(ctx, sc, childRemote, childLocal, childRel, exclude, depth+1); err != nil {
				return err
			}
			if err := os.Chmod(childLocal, info.Mode()&(fs.ModePerm|fs.ModeSetgid|fs.ModeSticky)); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := sftpGetFile(ctx, sc, childRemote, childLocal, info.Mode()); err != nil {
				return fmt.Errorf("downloading %s: %w", childRemote, err)
			}
		}
	}
	return nil
}

func sftpGetFile(ctx context.Context, sc *sftp.Client, remote, local string, mode fs.FileMode) error {
	rf, err := sc.Open(remote)
	if err != nil {
		return err
	}
	defer rf.Close()
	lf, err := createLocal(local, mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
	if err != nil {
		return err
	}
	_, err = rf.WriteTo(stream.Writer(ctx, lf))
	if cerr := lf.Close(); err == nil {
		err = cerr
	}
	return err
}
