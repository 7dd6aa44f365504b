package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/imgbuild/imgbuild/builders/qemu/qcow"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// stepDisk creates the build's disks in the output directory: a copy of
// (or an overlay on) disk_image, or an empty disk of disk_size for an ISO
// install, plus disk_additional_size disks.
func stepDisk(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	main := filepath.Join(st.outputDir, c.VMName)
	args := func(base []string, extra func(*QemuImgArgs) []string) []string {
		if c.QemuImgArgs != nil {
			return append(base, extra(c.QemuImgArgs)...)
		}
		return base
	}
	createArgs := func(a *QemuImgArgs) []string { return a.Create }
	switch {
	case c.DiskImage && c.UseBackingFile:
		st.ui.Say("Creating a qcow2 overlay on " + st.sourcePath)
		srcFmt, err := imageFormat(ctx, st.sourcePath)
		if err != nil {
			return nil, err
		}
		a := args([]string{"create", "-f", "qcow2", "-b", absPath(st.sourcePath), "-F", srcFmt}, createArgs)
		if err := qcow.QemuImg(ctx, append(a, main)...); err != nil {
			return nil, err
		}
	case c.DiskImage:
		st.ui.Say("Copying " + st.sourcePath + " to " + main)
		a := args([]string{"convert", "-O", c.Format}, func(a *QemuImgArgs) []string { return a.Convert })
		if err := qcow.QemuImg(ctx, append(a, st.sourcePath, main)...); err != nil {
			return nil, err
		}
	default:
		st.ui.Say("Creating a " + c.DiskSize + " disk")
		a := args([]string{"create", "-f", c.Format}, createArgs)
		if err := qcow.QemuImg(ctx, append(a, main, c.DiskSize)...); err != nil {
			return nil, err
		}
	}
	st.diskPaths = []string{main}
	if c.DiskImage && c.diskSizeSet && !c.SkipResizeDisk {
		if err := growDisk(ctx, st, main); err != nil {
			return nil, err
		}
	}
	for i, size := range c.DiskAdditionalSize {
		p := fmt.Sprintf("%s-%d", main, i+1)
		if err := qcow.QemuImg(ctx, append(args([]string{"create", "-f", c.Format}, createArgs), p, size)...); err != nil {
			return nil, err
		}
		st.diskPaths = append(st.diskPaths, p)
	}
	return nil, nil
}

// growDisk resizes the disk to disk_size, never shrinking it.
func growDisk(ctx context.Context, st *state, p string) error {
	want, err := parseSize(st.cfg.DiskSize)
	if err != nil {
		return err
	}
	info, err := imageInfo(ctx, p)
	if err != nil {
		return err
	}
	if info.VirtualSize >= want {
		return nil
	}
	a := []string{"resize", "-f", st.cfg.Format}
	if st.cfg.QemuImgArgs != nil {
		a = append(a, st.cfg.QemuImgArgs.Resize...)
	}
	return qcow.QemuImg(ctx, append(a, p, st.cfg.DiskSize)...)
}

type imgInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
}

func imageInfo(ctx context.Context, p string) (*imgInfo, error) {
	out, err := exec.CommandContext(ctx, "qemu-img", "info", "--output=json", p).Output()
	if err != nil {
		return nil, fmt.Errorf("reading the image %s with qemu-img info: %w", p, err)
	}
	var info imgInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return nil, fmt.Errorf("reading qemu-img info of %s: %w", p, err)
	}
	return &info, nil
}

func imageFormat(ctx context.Context, p string) (string, error) {
	info, err := imageInfo(ctx, p)
	if err != nil {
		return "", err
	}
	return info.Format, nil
}

// parseSize reads "512M", "6G", "40960" (bytes) as qemu-img does.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	if n := len(s); n > 0 {
		switch strings.ToUpper(s[n-1:]) {
		case "K":
			mult = 1 << 10
		case "M":
			mult = 1 << 20
		case "G":
			mult = 1 << 30
		case "T":
			mult = 1 << 40
		case "P":
			mult = 1 << 50
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("disk size %q is not a size", s)
	}
	return v * mult, nil
}

// convertArgs starts a qemu-img convert to the output format, with
// disk_compression and the user's qemu_img_args convert options; the
// caller appends source and destination.
func convertArgs(c *Config) []string {
	a := []string{"convert", "-O", c.Format}
	if c.DiskCompression {
		a = append(a, "-c")
	}
	if c.QemuImgArgs != nil {
		a = append(a, c.QemuImgArgs.Convert...)
	}
	return a
}

// stepCompact rewrites the disk with qemu-img convert, dropping unused
// blocks (and compressing with disk_compression), unless skip_compaction.
func stepCompact(ctx context.Context, st *state) (steps.Cleanup, error) {
	c := st.cfg
	if c.SkipCompaction || c.UseBackingFile {
		return nil, nil
	}
	st.ui.Say("Compacting the disk with qemu-img convert")
	for _, p := range st.diskPaths {
		tmp := p + ".compacting"
		if err := qcow.QemuImg(ctx, append(convertArgs(c), p, tmp)...); err != nil {
			os.Remove(tmp)
			return nil, err
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("replacing %s with its compacted copy: %w", p, err)
		}
	}
	return nil, nil
}
