package qemu

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestDisksAreCreatedAsConfigured(t *testing.T) {
	testenv.NeedCommand(t, "qemu-img")
	base := filepath.Join(t.TempDir(), "base.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-f", "qcow2", base, "10M").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	tests := []struct {
		name        string
		cfg         Config
		wantFiles   int
		wantSize    int64
		wantBacking string
		wantFormat  string
	}{
		{"empty disk of disk_size for an ISO install", Config{DiskSize: "20M", Format: "qcow2"}, 1, 20 << 20, "", "qcow2"},
		{"raw format", Config{DiskSize: "8M", Format: "raw"}, 1, 8 << 20, "", "raw"},
		{"disk_image is copied and grown to disk_size", Config{DiskImage: true, DiskSize: "30M", diskSizeSet: true, Format: "qcow2"}, 1, 30 << 20, "", "qcow2"},
		{"disk_image keeps its size without disk_size", Config{DiskImage: true, DiskSize: "40960M", Format: "qcow2"}, 1, 10 << 20, "", "qcow2"},
		{"use_backing_file makes an overlay", Config{DiskImage: true, UseBackingFile: true, DiskSize: "40960M", Format: "qcow2"}, 1, 10 << 20, base, "qcow2"},
		{"disk_additional_size adds disks", Config{DiskSize: "4M", Format: "qcow2", DiskAdditionalSize: []string{"2M", "3M"}}, 3, 4 << 20, "", "qcow2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.VMName = "disk"
			st := &state{cfg: &c, ui: newTestUI(t), outputDir: t.TempDir(), sourcePath: base}
			if _, err := stepDisk(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			if len(st.diskPaths) != tt.wantFiles {
				t.Fatalf("disks = %v, want %d", st.diskPaths, tt.wantFiles)
			}
			out, err := exec.Command("qemu-img", "info", "--output=json", st.diskPaths[0]).Output()
			if err != nil {
				t.Fatal(err)
			}
			var info struct {
				Format      string `json:"format"`
				VirtualSize int64  `json:"virtual-size"`
				Backing     string `json:"backing-filename"`
			}
			if err := json.Unmarshal(out, &info); err != nil {
				t.Fatal(err)
			}
			if info.Format != tt.wantFormat || info.VirtualSize != tt.wantSize || info.Backing != tt.wantBacking {
				t.Errorf("disk is %+v, want format %s, size %d, backing %q", info, tt.wantFormat, tt.wantSize, tt.wantBacking)
			}
		})
	}
}
