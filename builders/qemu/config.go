package qemu

import (
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// Config holds every option of Packer's qemu builder, under Packer's names.
// Defaults that depend on the build's name (vm_name, output_directory) are
// filled in Run, where the name is known.
type Config struct {
	// ISO source.
	ISOURL             string   `hcl:"iso_url,optional"`
	ISOURLs            []string `hcl:"iso_urls,optional"`
	ISOChecksum        string   `hcl:"iso_checksum,optional"`
	ISOTargetPath      string   `hcl:"iso_target_path,optional"`
	ISOTargetExtension string   `hcl:"iso_target_extension,optional"`
	ISOSkipCache       bool     `hcl:"iso_skip_cache,optional"`

	// HTTP server for the guest (preseed, kickstart, cloud-init).
	HTTPDir             string            `hcl:"http_directory,optional"`
	HTTPContent         map[string]string `hcl:"http_content,optional"`
	HTTPPortMin         int               `hcl:"http_port_min,optional"`
	HTTPPortMax         int               `hcl:"http_port_max,optional"`
	HTTPAddress         string            `hcl:"http_bind_address,optional"`
	HTTPInterface       string            `hcl:"http_interface,optional"`
	HTTPNetworkProtocol string            `hcl:"http_network_protocol,optional"`

	// Floppy and CD media made for the guest.
	FloppyFiles   []string          `hcl:"floppy_files,optional"`
	FloppyDirs    []string          `hcl:"floppy_dirs,optional"`
	FloppyContent map[string]string `hcl:"floppy_content,optional"`
	FloppyLabel   string            `hcl:"floppy_label,optional"`
	CDFiles       []string          `hcl:"cd_files,optional"`
	CDContent     map[string]string `hcl:"cd_content,optional"`
	CDLabel       string            `hcl:"cd_label,optional"`

	// Typing at the boot console over VNC.
	BootWait           time.Duration `hcl:"boot_wait,optional"`
	BootCommand        []string      `hcl:"boot_command,optional"`
	BootSteps          [][]string    `hcl:"boot_steps,optional"`
	BootKeyInterval    time.Duration `hcl:"boot_key_interval,optional"`
	BootGroupInterval  time.Duration `hcl:"boot_keygroup_interval,optional"`
	DisableVNC         bool          `hcl:"disable_vnc,optional"`
	VNCBindAddress     string        `hcl:"vnc_bind_address,optional"`
	VNCUsePassword     bool          `hcl:"vnc_use_password,optional"`
	VNCPortMin         int           `hcl:"vnc_port_min,optional"`
	VNCPortMax         int           `hcl:"vnc_port_max,optional"`
	ShutdownCommand    string        `hcl:"shutdown_command,optional"`
	ShutdownTimeout    time.Duration `hcl:"shutdown_timeout,optional"`
	HostPortMin        int           `hcl:"host_port_min,optional"`
	HostPortMax        int           `hcl:"host_port_max,optional"`
	SSHHostPortMin     int           `hcl:"ssh_host_port_min,optional"` // deprecated spelling of host_port_min
	SSHHostPortMax     int           `hcl:"ssh_host_port_max,optional"` // deprecated spelling of host_port_max
	SkipNatMapping     bool          `hcl:"skip_nat_mapping,optional"`
	QMPEnable          bool          `hcl:"qmp_enable,optional"`
	QMPSocketPath      string        `hcl:"qmp_socket_path,optional"`
	UseDefaultDisplay  bool          `hcl:"use_default_display,optional"`
	VGA                string        `hcl:"vga,optional"`      // -vga; unset leaves the machine's default card
	RunOnce            bool          `hcl:"run_once,optional"` // accepted and ignored, as Packer's qemu plugin does
	Display            string        `hcl:"display,optional"`
	Headless           bool          `hcl:"headless,optional"`
	QemuBinary         string        `hcl:"qemu_binary,optional"`
	QemuArgs           [][]string    `hcl:"qemuargs,optional"`
	QemuImgArgs        *QemuImgArgs  `hcl:"qemu_img_args,block"`
	OutputDir          string        `hcl:"output_directory,optional"`
	VMName             string        `hcl:"vm_name,optional"`
	Accelerator        string        `hcl:"accelerator,optional"`
	MachineType        string        `hcl:"machine_type,optional"`
	CPUModel           string        `hcl:"cpu_model,optional"`
	CPUs               int           `hcl:"cpus,optional"`
	Sockets            int           `hcl:"sockets,optional"`
	Cores              int           `hcl:"cores,optional"`
	Threads            int           `hcl:"threads,optional"`
	MemorySize         int           `hcl:"memory,optional"`
	NetDevice          string        `hcl:"net_device,optional"`
	NetBridge          string        `hcl:"net_bridge,optional"`
	Firmware           string        `hcl:"firmware,optional"`
	UsePFlash          bool          `hcl:"use_pflash,optional"` // firmware as a read-only pflash drive, not -bios
	EFIBoot            bool          `hcl:"efi_boot,optional"`
	EFIFirmwareCode    string        `hcl:"efi_firmware_code,optional"`
	EFIFirmwareVars    string        `hcl:"efi_firmware_vars,optional"`
	EFIDropEFIVars     bool          `hcl:"efi_drop_efivars,optional"`
	VTPM               bool          `hcl:"vtpm,optional"`
	VTPMUseTPM1        bool          `hcl:"use_tpm1,optional"`
	TPMDeviceType      string        `hcl:"tpm_device_type,optional"`
	CDROMInterface     string        `hcl:"cdrom_interface,optional"`
	DiskImage          bool          `hcl:"disk_image,optional"`
	UseBackingFile     bool          `hcl:"use_backing_file,optional"`
	DiskSize           string        `hcl:"disk_size,optional"`
	SkipResizeDisk     bool          `hcl:"skip_resize_disk,optional"`
	DiskAdditionalSize []string      `hcl:"disk_additional_size,optional"`
	DiskInterface      string        `hcl:"disk_interface,optional"`
	DiskCache          string        `hcl:"disk_cache,optional"`
	DiskDiscard        string        `hcl:"disk_discard,optional"`
	DiskDetectZeroes   string        `hcl:"disk_detect_zeroes,optional"`
	SkipCompaction     bool          `hcl:"skip_compaction,optional"`
	DiskCompression    bool          `hcl:"disk_compression,optional"`
	Format             string        `hcl:"format,optional"`
	// ResumeClockCommand is imgbuild's own: what sets the guest's clock
	// after -cache resumed the VM from a saved state ({{.Unix}} is the
	// time); empty: date -s as root, or through sudo -n.
	ResumeClockCommand string `hcl:"resume_clock_command,optional"`

	communicator.Config

	// diskSizeSet records that disk_size was given (a disk_image is
	// resized only then).
	diskSizeSet bool
	prepared    bool
}

// QemuImgArgs are extra arguments for qemu-img's create, convert and
// resize calls, as Packer's qemu_img_args block.
type QemuImgArgs struct {
	Convert []string `hcl:"convert,optional"`
	Create  []string `hcl:"create,optional"`
	Resize  []string `hcl:"resize,optional"`
}
