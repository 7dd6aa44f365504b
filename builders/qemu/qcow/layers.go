package qcow

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// NewOverlay creates an empty qcow2 file in dir, backed by layer (a
// checkpoint), for a VM to write to, and returns its path. The caller
// removes it when the build ends.
func NewOverlay(ctx context.Context, dir, layer string) (string, error) {
	p := WorkingPath(dir)
	if err := QemuImg(ctx, "create", "-f", "qcow2", "-b", layer, "-F", "qcow2", p); err != nil {
		return "", fmt.Errorf("creating an overlay on checkpoint %s: %w", filepath.Base(layer), err)
	}
	return p, nil
}

// WorkingPath is a fresh name in dir for a file a VM writes to.
func WorkingPath(dir string) string {
	return filepath.Join(dir, cache.WorkingPrefix+unique()+".qcow2")
}

// LayerPath is a fresh name in dir for the layer of key. The key leads
// the name; the unique suffix keeps a layer made again for the same key
// (after its entry was lost) from replacing the file that older layers
// are backed by.
func LayerPath(dir, key string) string { return filepath.Join(dir, key+"-"+unique()+".qcow2") }

func unique() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Disk is the disk of a running VM, kept as a chain of layers.
type Disk struct {
	q      *QMP
	device string
	active string
}

// Attach finds the VM's drive whose file is active (the file the VM was
// started on). Call it before the first Freeze: afterwards QEMU names
// the file by its whole chain.
func Attach(ctx context.Context, q *QMP, active string) (*Disk, error) {
	want, _ := filepath.Abs(active)
	devices, err := queryBlock(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, d := range devices {
		if d.Inserted == nil {
			continue
		}
		if f, _ := filepath.Abs(d.Inserted.File); f == want {
			return &Disk{q: q, device: d.Device, active: active}, nil
		}
	}
	return nil, fmt.Errorf("the VM has no drive on %s (query-block)", active)
}

// Active is the file the VM writes to now.
func (d *Disk) Active() string { return d.active }

// Freeze makes the file the VM writes to the layer file (renamed, so both
// must be in the same file system), and has the VM go on writing to a new
// overlay backed by it, in the same folder as before. The guest must have
// flushed its writes first (sync).
//
// The overlay is made with the layer's final name as its backing file
// and handed to QEMU as an existing file, so that nothing on disk refers
// to the old name afterwards. The file is renamed only once QEMU has
// switched: QEMU reopens it read-only by its name then, and a file that
// stayed open read-write (its name gone) keeps QEMU from ever saving the
// VM's state (migration inactivates every node, which needs that reopen).
func (d *Disk) Freeze(ctx context.Context, layer string) error {
	format, size, err := d.describe(ctx)
	if err != nil {
		return err
	}
	next := WorkingPath(filepath.Dir(d.active))
	if err := QemuImg(ctx, "create", "-f", "qcow2", "-u", "-b", layer, "-F", format, next, strconv.FormatInt(size, 10)); err != nil {
		return fmt.Errorf("creating the next overlay: %w", err)
	}
	err = d.q.Execute(ctx, "blockdev-snapshot-sync", map[string]any{
		"device": d.device, "snapshot-file": next, "format": "qcow2", "mode": "existing",
	}, nil)
	if err != nil {
		os.Remove(next)
		return fmt.Errorf("switching the VM's disk to a new overlay: %w", err)
	}
	old := d.active
	d.active = next
	if err := os.Rename(old, layer); err != nil {
		// The VM now writes to next, whose backing file is named layer.
		return fmt.Errorf("keeping the disk as layer %s: %w (the chain under %s is broken)", layer, err, next)
	}
	return nil
}

// describe returns the format and virtual size of the top file.
func (d *Disk) describe(ctx context.Context) (string, int64, error) {
	devices, err := queryBlock(ctx, d.q)
	if err != nil {
		return "", 0, err
	}
	for _, dev := range devices {
		if dev.Device == d.device && dev.Inserted != nil {
			return dev.Inserted.Drv, dev.Inserted.Image.VirtualSize, nil
		}
	}
	return "", 0, fmt.Errorf("the VM's drive %s is gone (query-block)", d.device)
}

type blockDevice struct {
	Device   string `json:"device"`
	Inserted *struct {
		File  string `json:"file"`
		Drv   string `json:"drv"`
		Image struct {
			VirtualSize int64 `json:"virtual-size"`
		} `json:"image"`
	} `json:"inserted"`
}

func queryBlock(ctx context.Context, q *QMP) ([]blockDevice, error) {
	var devices []blockDevice
	err := q.Execute(ctx, "query-block", nil, &devices)
	return devices, err
}

// ChainIntact reports whether layer and every file under it are there.
func ChainIntact(ctx context.Context, layer string) bool {
	if _, err := os.Stat(layer); err != nil {
		return false
	}
	return QemuImg(ctx, "info", "-U", "--backing-chain", layer) == nil
}

// QemuImg runs qemu-img with args; its error carries the tail of what
// qemu-img printed, and says which package to install when it is missing.
func QemuImg(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "qemu-img", args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, lerr := exec.LookPath("qemu-img"); lerr != nil {
			return fmt.Errorf("qemu-img is not installed: install qemu-utils")
		}
		const keep = 2000 // enough for its message, not a whole log
		if len(out) > keep {
			out = out[len(out)-keep:]
		}
		return fmt.Errorf("qemu-img %v: %w: %s", args, err, out)
	}
	return nil
}

// BackingFile returns the file a qcow2 file is backed by ("" for none),
// from its header: magic "QFI\xfb", version, then the backing file name's
// offset (8 bytes) and size (4), big-endian. A relative name is relative
// to the file's folder.
func BackingFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return "", fmt.Errorf("reading the qcow2 header of %s: %w", path, err)
	}
	if string(h[:4]) != "QFI\xfb" {
		return "", fmt.Errorf("%s is not a qcow2 file", path)
	}
	off, size := binary.BigEndian.Uint64(h[8:16]), binary.BigEndian.Uint32(h[16:20])
	if off == 0 || size == 0 {
		return "", nil
	}
	if size > 4096 {
		return "", fmt.Errorf("%s names a backing file of %d bytes", path, size)
	}
	name := make([]byte, size)
	if _, err := f.ReadAt(name, int64(off)); err != nil {
		return "", fmt.Errorf("reading the backing file name of %s: %w", path, err)
	}
	b := string(name)
	if !filepath.IsAbs(b) {
		b = filepath.Join(filepath.Dir(path), b)
	}
	return b, nil
}
