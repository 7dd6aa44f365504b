package ssh

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// permOf returns the permission bits to give an uploaded file (0 means 0644).
func permOf(mode fs.FileMode) fs.FileMode {
	if mode == 0 {
		return 0o644
	}
	return mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// remoteDirTarget applies Packer's trailing-slash rule to a directory
// upload: "src/" puts the contents of src into dst, "src" puts src itself
// there as dst/<base of src>.
func remoteDirTarget(dst, src string) string {
	if strings.HasSuffix(src, "/") {
		return dst
	}
	return path.Join(dst, filepath.Base(filepath.Clean(src)))
}

// localDirTarget is remoteDirTarget for downloads.
func localDirTarget(dst, src string) string {
	if strings.HasSuffix(src, "/") {
		return dst
	}
	return filepath.Join(dst, path.Base(path.Clean(src)))
}

// excluded reports whether rel (slash-separated, relative to the copied
// directory) matches an exclude pattern.
func excluded(rel string, exclude []string) bool {
	for _, pat := range exclude {
		if ok, _ := filepath.Match(pat, rel); ok {
			return true
		}
		if ok, _ := filepath.Match(filepath.FromSlash(pat), filepath.FromSlash(rel)); ok {
			return true
		}
	}
	return false
}

// localEntry is one file or directory of a local tree being uploaded.
type localEntry struct {
	rel  string // slash-separated, relative to the root
	abs  string
	info fs.FileInfo // of the target, for symbolic links
}

// walkLocal calls fn for every entry under root in lexical order, parents
// before children, and leaveDir after a directory's contents. Symbolic
// links are followed (their targets are copied), to a bounded depth; a
// link to a file arrives with mode 0644 whatever its target's mode, as
// with Packer's SSH communicator (which takes the mode of the link, not a
// regular file, and falls back to 0644), so images match Packer's.
func walkLocal(root string, exclude []string, fn func(e localEntry) error, leaveDir func(e localEntry) error) error {
	var walk func(abs, rel string, depth int) error
	walk = func(abs, rel string, depth int) error {
		if depth > 40 {
			return fmt.Errorf("%s: directories nested too deep (a symbolic link loop?)", abs)
		}
		entries, err := os.ReadDir(abs)
		if err != nil {
			return err
		}
		for _, de := range entries {
			childAbs := filepath.Join(abs, de.Name())
			childRel := path.Join(rel, de.Name())
			if excluded(childRel, exclude) {
				continue
			}
			info, err := os.Stat(childAbs)
			if err != nil {
				return err
			}
			if de.Type()&fs.ModeSymlink != 0 && info.Mode().IsRegular() {
				info = linkedFile{info}
			}
			e := localEntry{rel: childRel, abs: childAbs, info: info}
			switch {
			case info.IsDir():
				if err := fn(e); err != nil {
					return err
				}
				if err := walk(childAbs, childRel, depth+1); err != nil {
					return err
				}
				if leaveDir != nil {
					if err := leaveDir(e); err != nil {
						return err
					}
				}
			case info.Mode().IsRegular():
				if err := fn(e); err != nil {
					return err
				}
			default:
				// Devices, sockets and pipes cannot be copied as files.
			}
		}
		return nil
	}
	return walk(root, "", 0)
}

// linkedFile is a file reached through a symbolic link: Packer uploads it
// with mode 0644.
type linkedFile struct{ fs.FileInfo }

func (linkedFile) Mode() fs.FileMode { return 0o644 }

// createLocal creates (or truncates) a local file with exactly mode.
func createLocal(name string, mode fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// shellQuote quotes s for a POSIX shell, leaving a leading "~/" outside the
// quotes so that the remote shell still expands it.
func shellQuote(s string) string {
	prefix := ""
	if s == "~" {
		return s
	}
	if strings.HasPrefix(s, "~/") {
		prefix, s = "~/", s[2:]
		if s == "" {
			return prefix
		}
	}
	return prefix + "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
