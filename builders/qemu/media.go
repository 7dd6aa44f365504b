package qemu

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/internal/steps"
	"github.com/imgbuild/imgbuild/internal/tempdir"
)

// stepCD builds an ISO from cd_files and cd_content with xorriso (or
// genisoimage/mkisofs), attached to the VM as a second CD drive.
func stepCD(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	if len(c.CDFiles) == 0 && len(c.CDContent) == 0 {
		return nil, nil
	}
	root, removeRoot, err := tempdir.Dir("imgbuild-cd-")
	if err != nil {
		return nil, err
	}
	iso := root + ".iso"
	cleanup := func(ctx context.Context) error {
		// The image first: the last removal takes the run folder with it.
		return errorsJoin(removeIfExists(iso), removeRoot())
	}
	if err := stageFiles(root, c.CDFiles, c.CDContent); err != nil {
		return cleanup, fmt.Errorf("collecting cd_files: %w", err)
	}
	label := c.CDLabel
	if label == "" {
		label = "packer"
	}
	var cmd *exec.Cmd
	switch {
	case has("xorriso"):
		cmd = exec.CommandContext(ctx, "xorriso", "-as", "mkisofs", "-quiet", "-J", "-r", "-V", label, "-o", iso, root)
	case has("genisoimage"):
		cmd = exec.CommandContext(ctx, "genisoimage", "-quiet", "-J", "-r", "-V", label, "-o", iso, root)
	case has("mkisofs"):
		cmd = exec.CommandContext(ctx, "mkisofs", "-quiet", "-J", "-r", "-V", label, "-o", iso, root)
	default:
		return cleanup, fmt.Errorf("cd_files/cd_content need xorriso, genisoimage or mkisofs: install xorriso")
	}
	st.ui.Say("Creating the CD (label " + label + ")")
	if out, err := cmd.CombinedOutput(); err != nil {
		return cleanup, fmt.Errorf("%s: %w: %s", cmd.Path, err, trimOutput(out))
	}
	st.cdPath = iso
	return cleanup, nil
}

// stepFloppy builds a FAT floppy image from floppy_files, floppy_dirs and
// floppy_content with mkfs.fat and mcopy.
func stepFloppy(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	if len(c.FloppyFiles) == 0 && len(c.FloppyDirs) == 0 && len(c.FloppyContent) == 0 {
		return nil, nil
	}
	mkfs, mcopy := lookCmd("mkfs.fat"), lookCmd("mcopy")
	if mkfs == "" || mcopy == "" {
		return nil, fmt.Errorf("floppy_files need mkfs.fat and mcopy: install dosfstools and mtools")
	}
	root, removeRoot, err := tempdir.Dir("imgbuild-floppy-")
	if err != nil {
		return nil, err
	}
	img := root + ".img"
	cleanup := func(ctx context.Context) error {
		return errorsJoin(removeIfExists(img), removeRoot())
	}
	if err := stageFiles(root, append(append([]string{}, c.FloppyFiles...), c.FloppyDirs...), c.FloppyContent); err != nil {
		return cleanup, fmt.Errorf("collecting floppy_files: %w", err)
	}
	st.ui.Say("Creating the floppy")
	if out, err := exec.CommandContext(ctx, mkfs, "-C", "-n", strings.ToUpper(c.FloppyLabel), img, "1440").CombinedOutput(); err != nil {
		return cleanup, fmt.Errorf("mkfs.fat: %w: %s", err, trimOutput(out))
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		cmd := exec.CommandContext(ctx, mcopy, "-s", "-i", img, filepath.Join(root, e.Name()), "::/")
		if out, err := cmd.CombinedOutput(); err != nil {
			return cleanup, fmt.Errorf("copying %s to the floppy: %w: %s", e.Name(), err, trimOutput(out))
		}
	}
	st.floppyPath = img
	return cleanup, nil
}

// stageFiles copies files and directories (globs allowed) and inline
// contents into root, as Packer lays out cd_files: files at the top,
// directories by their base name (or their contents with a trailing /).
func stageFiles(root string, files []string, content map[string]string) error {
	for _, pattern := range files {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return err
		}
		if len(matches) == 0 {
			return fmt.Errorf("%s: no such file", pattern)
		}
		for _, m := range matches {
			dst := filepath.Join(root, filepath.Base(m))
			if strings.HasSuffix(pattern, "/") {
				dst = root
			}
			if err := copyTree(m, dst); err != nil {
				return err
			}
		}
	}
	for name, data := range content {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		return errorsJoin(err, out.Close())
	})
}

func has(cmd string) bool { return lookCmd(cmd) != "" }

// lookCmd finds cmd on PATH or in the sbin folders that non-root PATHs
// often lack; "" when it is not installed.
func lookCmd(cmd string) string {
	if p, err := exec.LookPath(cmd); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, cmd); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func removeIfExists(p string) error {
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
