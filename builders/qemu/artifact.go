package qemu

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// Artifact is the image file(s) in output_directory.
type Artifact struct {
	dir       string
	files     []string
	generated plugin.GeneratedData
	// Packer's state keys: diskName, diskType, diskSize, domainType.
	diskName, format, diskSize, accel string
}

// BuilderID is "transcend.qemu", as Packer's.
func (a *Artifact) BuilderID() string { return BuilderID }

// ID is the main disk image's path, which post-processors act on.
func (a *Artifact) ID() string {
	if len(a.files) == 0 {
		return ""
	}
	return a.files[0]
}

// Files lists the image files.
func (a *Artifact) Files() []string { return append([]string(nil), a.files...) }

func (a *Artifact) String() string {
	return fmt.Sprintf("VM files in directory: %s (%s)", a.dir, strings.Join(a.files, ", "))
}

// State returns Packer's qemu artifact state: "generated_data",
// "diskName" (vm_name), "diskType" (format), "diskSize" (disk_size) and
// "domainType" (the accelerator used).
func (a *Artifact) State(name string) any {
	switch name {
	case "generated_data":
		return map[string]string(a.generated)
	case "diskName":
		return a.diskName
	case "diskType":
		return a.format
	case "diskSize":
		return a.diskSize // with its unit: Prepare makes "5000" "5000M"
	case "domainType":
		return a.accel
	}
	return nil
}

// Destroy removes the output directory.
func (a *Artifact) Destroy(ctx context.Context) error {
	if err := os.RemoveAll(a.dir); err != nil {
		return fmt.Errorf("removing qemu output directory %s: %w", a.dir, err)
	}
	return nil
}
