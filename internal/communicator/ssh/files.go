package ssh

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// Upload writes r to the file dst on the machine with mode's permission
// bits, over scp or sftp as ssh_file_transfer_method says. It streams: for
// scp, a reader whose size cannot be known is first spooled to a temporary
// file.
func (c *Comm) Upload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	var err error
	if c.useSFTP() {
		err = c.sftpUpload(ctx, dst, r, permOf(mode))
	} else {
		err = c.scpUpload(ctx, dst, r, permOf(mode))
	}
	if err != nil {
		if dir := path.Dir(dst); !c.remoteDirExists(ctx, dir) {
			return fmt.Errorf("uploading to %s: the folder %s does not exist on the machine; create it first (for example with a shell provisioner running mkdir -p %s): %w", dst, dir, dir, err)
		}
		return fmt.Errorf("uploading to %s: %w", dst, err)
	}
	return nil
}

// remoteDirExists reports whether dir is a folder on the machine. It is
// asked only after an upload failed, to turn scp's and sftp's terse errors
// into one that says what to do; when it cannot tell, it says yes.
func (c *Comm) remoteDirExists(ctx context.Context, dir string) bool {
	status, err := c.Run(ctx, &communicator.Cmd{Command: "test -d " + shellQuote(dir)})
	return err != nil || status == 0
}

// UploadDir copies the local directory src to dst on the machine (see
// communicator.Communicator for the trailing-slash rule).
func (c *Comm) UploadDir(ctx context.Context, dst, src string, exclude []string) error {
	var err error
	if c.useSFTP() {
		err = c.sftpUploadDir(ctx, dst, src, exclude)
	} else {
		err = c.scpUploadDir(ctx, dst, src, exclude)
	}
	if err != nil {
		return fmt.Errorf("uploading the directory %s to %s: %w", src, dst, err)
	}
	return nil
}

// Download writes the contents of the file src on the machine to w.
func (c *Comm) Download(ctx context.Context, src string, w io.Writer) error {
	var err error
	if c.useSFTP() {
		err = c.sftpDownload(ctx, src, w)
	} else {
		err = c.scpDownload(ctx, src, w)
	}
	if err != nil {
		return fmt.Errorf("downloading %s: %w", src, err)
	}
	return nil
}

// DownloadDir copies the directory src on the machine to the local
// directory dst, keeping modes.
func (c *Comm) DownloadDir(ctx context.Context, src, dst string, exclude []string) error {
	var err error
	if c.useSFTP() {
		err = c.sftpDownloadDir(ctx, src, dst, exclude)
	} else {
		err = c.scpDownloadDir(ctx, src, dst, exclude)
	}
	if err != nil {
		return fmt.Errorf("downloading the directory %s to %s: %w", src, dst, err)
	}
	return nil
}

func (c *Comm) useSFTP() bool { return c.cfg.SSHFileTransferMethod == "sftp" }
