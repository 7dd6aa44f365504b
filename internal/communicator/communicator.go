// Package communicator defines how imgbuild talks to a machine being built:
// run commands, and move files and directories in and out. The SSH
// implementation lives in communicator/ssh; the docker builder has its own
// (Docker Engine API exec and archive calls).
package communicator

import (
	"context"
	"errors"
	"io"
	"io/fs"
)

// Cmd is a command to run on the machine. The command line is interpreted
// by the machine's shell (/bin/sh -c on Unix-like machines).
type Cmd struct {
	Command string
	Stdin   io.Reader // nil: no input
	Stdout  io.Writer // nil: discard
	Stderr  io.Writer // nil: discard
}

// Communicator runs commands and transfers files on a machine. Every
// transfer streams: no implementation may hold a whole file in memory.
type Communicator interface {
	// Run runs cmd and waits for it. It returns the command's exit status;
	// err is non-nil only when the command could not be run or its status
	// could not be known (ErrDisconnected when the connection dropped).
	Run(ctx context.Context, cmd *Cmd) (exitStatus int, err error)

	// Upload writes the contents of r to the file dst on the machine. mode
	// gives the file's permission bits (0 means 0644).
	Upload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error

	// UploadDir copies the local directory src to dst, with Packer's
	// trailing-slash rule: when src ends in "/", the contents of src go
	// into dst; otherwise dst/<base of src> is created. Modes are kept.
	// Symbolic links are treated as by the Packer communicator of the same
	// kind: SSH follows them (a link to a file arrives as a 0644 copy of
	// the target, a link to a folder as a copy of the folder); docker
	// keeps them as links.
	// Paths matching an exclude pattern (filepath.Match on the path
	// relative to src) are skipped.
	UploadDir(ctx context.Context, dst, src string, exclude []string) error

	// Download writes the contents of the file src on the machine to w.
	Download(ctx context.Context, src string, w io.Writer) error

	// DownloadDir copies the directory src on the machine to the local
	// directory dst, with the same trailing-slash rule as UploadDir.
	DownloadDir(ctx context.Context, src, dst string, exclude []string) error
}

// ErrDisconnected is returned (wrapped) by Run when the connection to the
// machine dropped before the command's status was known, as when a script
// reboots the machine. Provisioners with expect_disconnect accept it.
var ErrDisconnected = errors.New("communicator: disconnected")

// Reconnecter is implemented by communicators that can re-establish their
// connection after ErrDisconnected (for example after a reboot).
type Reconnecter interface {
	Reconnect(ctx context.Context) error
}
