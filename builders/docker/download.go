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

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/errdefs"
)

// maxLinks bounds how many symlinks Download follows.
const maxLinks = 8

// Download writes the file src in the container to w, following symlinks.
func (c *Comm) Download(ctx context.Context, src string, w io.Writer) error {
	target := c.abs(src)
	for range maxLinks {
		rc, stat, err := c.copyFrom(ctx, target)
		if err != nil {
			return err
		}
		if stat.Mode&os.ModeSymlink != 0 && stat.LinkTarget != "" {
			rc.Close()
			target = c.abs(stat.LinkTarget)
			continue
		}
		defer rc.Close()
		if stat.Mode.IsDir() {
			return fmt.Errorf("downloading %s: %w (end the source with \"/\" to download a folder)", target, errIsDir)
		}
		tr := tar.NewReader(rc)
		hdr, err := tr.Next()
		if err != nil {
			return fmt.Errorf("downloading %s: reading the engine's archive: %w", target, err)
		}
		var r io.Reader = tr
		if c.ui != nil && hdr.Size >= progressThreshold {
			pr := c.ui.TrackProgress("Downloading "+path.Base(target), hdr.Size, io.NopCloser(tr))
			defer pr.Close()
			r = pr
		}
		if _, err := io.Copy(w, r); err != nil {
			return fmt.Errorf("downloading %s: %w", target, err)
		}
		return nil
	}
	return fmt.Errorf("downloading %s: more than %d symbolic links", src, maxLinks)
}

// DownloadDir copies the folder src in the container to the local folder
// dst: its contents when src ends in "/", the folder itself otherwise.
// Entries are written through an os.Root, so a symlink in the archive can
// never make a write land outside dst.
func (c *Comm) DownloadDir(ctx context.Context, src, dst string, exclude []string) error {
	contentsOnly := strings.HasSuffix(src, "/")
	target := c.abs(src)
	rc, stat, err := c.copyFrom(ctx, target)
	if err != nil {
		return err
	}
	defer rc.Close()
	if !stat.Mode.IsDir() {
		return fmt.Errorf("downloading folder %s: not a directory in the container", target)
	}
	local := dst
	if !contentsOnly {
		local = filepath.Join(dst, path.Base(target))
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		return fmt.Errorf("downloading folder %s: %w", target, err)
	}
	root, err := os.OpenRoot(local)
	if err != nil {
		return fmt.Errorf("downloading folder %s: %w", target, err)
	}
	defer root.Close()
	if err := untar(ctx, tar.NewReader(rc), root, exclude); err != nil {
		return fmt.Errorf("downloading folder %s to %s: %w", target, local, err)
	}
	return nil
}

func (c *Comm) copyFrom(ctx context.Context, target string) (io.ReadCloser, container.PathStat, error) {
	rc, stat, err := c.cli.CopyFromContainer(ctx, c.containerID, target)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, stat, fmt.Errorf("downloading %s: no such file or folder in container %s", target, short(c.containerID))
		}
		return nil, stat, c.execError(ctx, "downloading "+target, err)
	}
	return rc, stat, nil
}

// untar writes the archive's entries under root. The archive's first
// path component (the folder's own name) is dropped: root stands for it.
func untar(ctx context.Context, tr *tar.Reader, root *os.Root, exclude []string) error {
	type dirMode struct {
		name string
		mode fs.FileMode
	}
	var dirs []dirMode
	var skipped []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the engine's archive: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		rel := stripFirst(hdr.Name)
		if rel == "" {
			if hdr.Typeflag == tar.TypeDir {
				dirs = append(dirs, dirMode{".", hdr.FileInfo().Mode().Perm()})
			}
			continue
		}
		localRel := filepath.FromSlash(rel)
		if under(localRel, skipped) || excluded(localRel, exclude) {
			if hdr.Typeflag == tar.TypeDir {
				skipped = append(skipped, localRel)
			}
			continue
		}
		if err := root.MkdirAll(filepath.Dir(localRel), 0o755); err != nil {
			return err
		}
		mode := hdr.FileInfo().Mode()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(localRel, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, dirMode{localRel, mode.Perm()})
		case tar.TypeReg:
			if err := replaceable(root, localRel); err != nil {
				return err
			}
			if err := writeFile(root, localRel, tr, mode.Perm()); err != nil {
				return err
			}
			_ = root.Chtimes(localRel, hdr.ModTime, hdr.ModTime)
		case tar.TypeSymlink:
			if err := replaceable(root, localRel); err != nil {
				return err
			}
			if err := root.Symlink(hdr.Linkname, localRel); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := replaceable(root, localRel); err != nil {
				return err
			}
			if err := root.Link(filepath.FromSlash(stripFirst(hdr.Linkname)), localRel); err != nil {
				return err
			}
		}
	}
	// Modes of folders last, so a read-only folder could still be filled.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := root.Chmod(dirs[i].name, dirs[i].mode); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(root *os.Root, name string, r io.Reader, perm fs.FileMode) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return root.Chmod(name, perm) // OpenFile's mode went through the umask
}

// replaceable removes a file or symlink that stands where an entry goes,
// so that a write never follows an old symlink.
func replaceable(root *os.Root, name string) error {
	st, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s: %w, cannot replace it with a file", name, errIsDir)
	}
	return root.Remove(name)
}

func stripFirst(name string) string {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if _, rest, ok := strings.Cut(name, "/"); ok {
		return rest
	}
	return ""
}

func under(rel string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(rel, d+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
