package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/stream"
)

// servedComm is one of imgbuild's communicators (SSH, docker) as a plugin
// provisioner sees it (packersdk.Communicator).
type servedComm struct {
	ctx  context.Context // the provisioning's: commands end with it
	comm communicator.Communicator
}

var _ packersdk.Communicator = (*servedComm)(nil)

func newServedComm(ctx context.Context, comm communicator.Communicator) *servedComm {
	return &servedComm{ctx: ctx, comm: comm}
}

// Start runs the command in the background, as the protocol expects, and
// reports its exit status on rc; a dropped connection is Packer's
// CmdDisconnect status.
func (c *servedComm) Start(_ context.Context, rc *packersdk.RemoteCmd) error {
	cmd := &communicator.Cmd{Command: rc.Command, Stdin: rc.Stdin, Stdout: rc.Stdout, Stderr: rc.Stderr}
	go func() {
		status, err := c.comm.Run(c.ctx, cmd)
		switch {
		case errors.Is(err, communicator.ErrDisconnected):
			status = packersdk.CmdDisconnect
		case err != nil:
			if rc.Stderr != nil {
				fmt.Fprintf(rc.Stderr, "imgbuild: running the command: %v\n", err)
			}
			status = -1
		}
		rc.SetExited(status)
	}()
	return nil
}

func (c *servedComm) Upload(dst string, r io.Reader, fi *os.FileInfo) error {
	mode := fs.FileMode(0o644)
	if fi != nil && *fi != nil {
		mode = (*fi).Mode().Perm()
	}
	return c.comm.Upload(c.ctx, dst, r, mode)
}

func (c *servedComm) UploadDir(dst, src string, exclude []string) error {
	return c.comm.UploadDir(c.ctx, dst, src, exclude)
}

func (c *servedComm) Download(src string, w io.Writer) error {
	return c.comm.Download(c.ctx, src, w)
}

func (c *servedComm) DownloadDir(src, dst string, exclude []string) error {
	return c.comm.DownloadDir(c.ctx, src, dst, exclude)
}

// remoteComm is the communicator a plugin builder serves (through its
// provisioning hook) as imgbuild's provisioners use it.
type remoteComm struct {
	comm packersdk.Communicator
}

var _ communicator.Communicator = (*remoteComm)(nil)

func (c *remoteComm) Run(ctx context.Context, cmd *communicator.Cmd) (int, error) {
	rc := &packersdk.RemoteCmd{Command: cmd.Command, Stdin: cmd.Stdin, Stdout: cmd.Stdout, Stderr: cmd.Stderr}
	if err := c.comm.Start(ctx, rc); err != nil {
		return 0, fmt.Errorf("starting the command: %w", remoteMessage(err))
	}
	done := make(chan int, 1)
	go func() { done <- rc.Wait() }()
	select {
	case status := <-done:
		if status == packersdk.CmdDisconnect {
			return status, fmt.Errorf("%w while running the command", communicator.ErrDisconnected)
		}
		return status, nil
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	}
}

func (c *remoteComm) Upload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	if mode == 0 {
		mode = 0o644
	}
	// Plugin communicators write a tar header (docker) or an scp line
	// first: they need the size.
	sr, size, cleanup, err := stream.Sized(r)
	defer cleanup()
	if err != nil {
		return err
	}
	var fi os.FileInfo = uploadInfo{name: filepath.Base(dst), mode: mode, size: size}
	return remoteMessage(c.comm.Upload(dst, sr, &fi))
}

func (c *remoteComm) UploadDir(ctx context.Context, dst, src string, exclude []string) error {
	return remoteMessage(c.comm.UploadDir(dst, src, exclude))
}

func (c *remoteComm) Download(ctx context.Context, src string, w io.Writer) error {
	return remoteMessage(c.comm.Download(src, w))
}

func (c *remoteComm) DownloadDir(ctx context.Context, src, dst string, exclude []string) error {
	return remoteMessage(c.comm.DownloadDir(src, dst, exclude))
}

// uploadInfo carries an upload's mode to the plugin's communicator.
type uploadInfo struct {
	name string
	mode fs.FileMode
	size int64
}

func (i uploadInfo) Name() string       { return i.name }
func (i uploadInfo) Size() int64        { return i.size }
func (i uploadInfo) Mode() fs.FileMode  { return i.mode }
func (i uploadInfo) ModTime() time.Time { return time.Time{} }
func (i uploadInfo) IsDir() bool        { return false }
func (i uploadInfo) Sys() any           { return nil }
