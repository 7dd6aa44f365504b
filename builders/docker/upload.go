package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/stream"

	"github.com/docker/docker/api/types/container"
)

// progressThreshold: smaller transfers get no progress bar.
const progressThreshold = 8 << 20

// Upload writes r to the file dst in the container through the archive
// API. The tar stream is made on the fly and extracted at "/", so missing
// parent folders are created (root-owned, 0755) without needing a mkdir in
// the image.
func (c *Comm) Upload(ctx context.Context, dst string, r io.Reader, mode fs.FileMode) error {
	target := c.abs(dst)
	if target == "/" {
		return fmt.Errorf("uploading to %q: the destination must name a file", dst)
	}
	if mode == 0 {
		mode = 0o644
	}
	r, size, done, err := stream.Sized(r)
	if err != nil {
		return fmt.Errorf("uploading to %s: %w", target, err)
	}
	defer done()
	if c.ui != nil && size >= progressThreshold {
		rc := c.ui.TrackProgress("Uploading "+path.Base(target), size, io.NopCloser(r))
		defer rc.Close()
		r = rc
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     strings.TrimPrefix(target, "/"),
		Mode:     int64(communicator.UnixMode(mode)),
		Size:     size,
		ModTime:  time.Now(),
	}
	if !c.fixOwner {
		hdr.Uid, hdr.Gid = os.Getuid(), os.Getgid()
	}
	err = c.extract(ctx, func(tw *tar.Writer) error {
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(tw, r)
		if err == nil && n != size {
			err = fmt.Errorf("source gave %d bytes, expected %d", n, size)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("uploading to %s in container %s: %w", target, short(c.containerID), err)
	}
	return c.chown(ctx, target)
}

// UploadDir copies the local folder src into dst, with Packer's rule: a
// trailing slash on src copies its contents, none copies the folder
// itself. Files stream one at a time; nothing is held in memory.
func (c *Comm) UploadDir(ctx context.Context, dst, src string, exclude []string) error {
	contentsOnly := strings.HasSuffix(src, "/") || strings.HasSuffix(src, string(filepath.Separator))
	srcRoot := filepath.Clean(src)
	st, err := os.Stat(srcRoot)
	if err != nil {
		return fmt.Errorf("uploading folder %s: %w", src, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("uploading folder %s: not a directory", src)
	}
	root := c.abs(dst)
	if !contentsOnly {
		root = path.Join(root, filepath.Base(srcRoot))
	}
	var owned []string // top-level paths to give to exec_user
	if !contentsOnly {
		owned = append(owned, root)
	}
	err = c.extract(ctx, func(tw *tar.Writer) error {
		return filepath.WalkDir(srcRoot, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(srcRoot, p)
			if err != nil {
				return err
			}
			if rel != "." && excluded(rel, exclude) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if rel == "." && contentsOnly {
				return nil // dst itself is left as it is, or made 0755
			}
			name := path.Join(root, filepath.ToSlash(rel))
			if rel == "." {
				name = root
			}
			if contentsOnly && !strings.Contains(rel, string(filepath.Separator)) {
				owned = append(owned, name)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			return c.writeEntry(tw, p, strings.TrimPrefix(name, "/"), d)
		})
	})
	if err != nil {
		return fmt.Errorf("uploading folder %s to %s in container %s: %w", src, root, short(c.containerID), err)
	}
	return c.chown(ctx, owned...)
}

// writeEntry adds one local file, folder or symlink to the stream. Other
// kinds (sockets, devices) are not copied.
func (c *Comm) writeEntry(tw *tar.Writer, local, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(local); err != nil {
			return err
		}
	case info.IsDir(), info.Mode().IsRegular():
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return fmt.Errorf("%s: %w", local, err)
	}
	hdr.Name = name
	if info.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	if c.fixOwner {
		hdr.Uid, hdr.Gid = 0, 0
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("%s changed while it was being uploaded: %w", local, err)
	}
	return nil
}

// extract streams the tar that write produces into the container at "/".
func (c *Comm) extract(ctx context.Context, write func(*tar.Writer) error) error {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := write(tw)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	err := c.cli.CopyToContainer(ctx, c.containerID, "/", pr, container.CopyToContainerOptions{
		// The engine gives the files to the container's user (its USER);
		// exec_user is handled by chown.
		CopyUIDGID: c.fixOwner && c.execUser == "",
	})
	// Unblock the writer if the engine stopped reading early.
	pr.CloseWithError(errors.New("upload ended"))
	return err
}

// chown gives uploaded paths to exec_user (fix_upload_owner), as root.
func (c *Comm) chown(ctx context.Context, paths ...string) error {
	if !c.fixOwner || c.execUser == "" || len(paths) == 0 {
		return nil
	}
	var out strings.Builder
	argv := append([]string{"chown", "-R", c.execUser, "--"}, paths...)
	code, err := c.exec(ctx, "root", argv, nil, &out, &out)
	if err != nil {
		return fmt.Errorf("giving %v to exec_user %s: %w", paths, c.execUser, err)
	}
	if code != 0 {
		return fmt.Errorf("giving %v to exec_user %s: chown exited %d: %s (set fix_upload_owner = false to skip this)",
			paths, c.execUser, code, strings.TrimSpace(out.String()))
	}
	return nil
}

// excluded reports whether rel matches one of the patterns.
func excluded(rel string, patterns []string) bool {
	for _, p := range patterns {
		if ok, _ := filepath.Match(p, rel); ok {
			return true
		}
	}
	return false
}
