package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

var (
	accelerators    = []string{"", "kvm", "tcg", "none", "hax", "hvf", "whpx", "xen"}
	formats         = []string{"qcow2", "raw"}
	diskInterfaces  = []string{"ide", "sata", "scsi", "virtio", "virtio-scsi", "floppy", "pflash", "sd", "mtd", "nvme"}
	diskCaches      = []string{"writethrough", "writeback", "none", "unsafe", "directsync"}
	diskDiscards    = []string{"unmap", "ignore"}
	detectZeroes    = []string{"unmap", "on", "off"}
	tpmDeviceTypes  = []string{"tpm-tis", "tpm-crb", "tpm-spapr", "tpm-tis-device"}
	netDevices      = []string{"ne2k_pci", "i82551", "i82557b", "i82559er", "rtl8139", "e1000", "pcnet", "virtio", "virtio-net", "virtio-net-pci", "usb-net", "i82559a", "i82559b", "i82559c", "i82550", "i82562", "i82557a", "i82557c", "i82801", "vmxnet3", "i82558a", "i82558b", "e1000e", "igb"}
	checksumTypes   = []string{"md5", "sha1", "sha256", "sha512"}
	diskSizePattern = regexp.MustCompile(`^[0-9]+[KMGTP]?$`)
)

// Prepare fills Packer's defaults and checks option combinations.
func (b *Builder) Prepare() ([]string, error) {
	c := &b.config
	var warns []string
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	setDefault(&c.Format, "qcow2")
	setDefault(&c.QemuBinary, "qemu-system-x86_64")
	setDefault(&c.DiskInterface, "virtio")
	setDefault(&c.DiskCache, "writeback")
	setDefault(&c.DiskDiscard, "ignore")
	setDefault(&c.DiskDetectZeroes, "off")
	setDefault(&c.NetDevice, "virtio-net")
	setDefault(&c.MachineType, "pc")
	setDefault(&c.VNCBindAddress, "127.0.0.1")
	setDefault(&c.HTTPNetworkProtocol, "tcp")
	if c.HTTPNetworkProtocol == "tcp6" {
		setDefault(&c.HTTPAddress, "::")
	}
	setDefault(&c.HTTPAddress, "0.0.0.0")
	switch c.HTTPNetworkProtocol {
	case "tcp", "tcp4", "tcp6":
	default:
		bad("http_network_protocol %q is not supported: use tcp, tcp4 or tcp6 (the guest reaches the HTTP server over the network)", c.HTTPNetworkProtocol)
	}
	setDefault(&c.FloppyLabel, "floppy")
	if !c.prepared { // Prepare may run again on a prepared config
		c.diskSizeSet = c.DiskSize != ""
	}
	if c.DiskSize == "" {
		c.DiskSize = "40960M"
	} else if diskSizePattern.MatchString(c.DiskSize) && !strings.ContainsAny(c.DiskSize[len(c.DiskSize)-1:], "KMGTP") {
		c.DiskSize += "M" // Packer reads a bare number as MiB
	}
	if !diskSizePattern.MatchString(c.DiskSize) {
		bad("disk_size %q is not a size: use a number of MiB or a number with K, M, G or T", c.DiskSize)
	}
	for _, s := range c.DiskAdditionalSize {
		if !diskSizePattern.MatchString(s) {
			bad("disk_additional_size %q is not a size: use a number with K, M, G or T", s)
		}
	}
	setDefaultInt(&c.CPUs, 1)
	setDefaultInt(&c.MemorySize, 512)
	setDefaultInt(&c.VNCPortMin, 5900)
	setDefaultInt(&c.VNCPortMax, 6000)
	setDefaultInt(&c.HTTPPortMin, 8000)
	setDefaultInt(&c.HTTPPortMax, 9000)
	if c.HostPortMin == 0 {
		c.HostPortMin = c.SSHHostPortMin
	}
	if c.HostPortMax == 0 {
		c.HostPortMax = c.SSHHostPortMax
	}
	if c.SSHHostPortMin != 0 || c.SSHHostPortMax != 0 {
		warns = append(warns, "ssh_host_port_min/ssh_host_port_max are deprecated: use host_port_min/host_port_max")
	}
	setDefaultInt(&c.HostPortMin, 2222)
	setDefaultInt(&c.HostPortMax, 4444)
	setDefaultDuration(&c.BootWait, 10*time.Second)
	setDefaultDuration(&c.ShutdownTimeout, 5*time.Minute)
	if c.QMPSocketPath != "" && !c.QMPEnable {
		bad("qmp_socket_path is set but qmp_enable is false: set qmp_enable = true")
	}

	check := func(name, val string, allowed []string) {
		if !slices.Contains(allowed, val) {
			bad("%s %q is not supported: use one of %s", name, val, strings.Join(nonEmpty(allowed), ", "))
		}
	}
	check("accelerator", c.Accelerator, accelerators)
	check("format", c.Format, formats)
	check("disk_interface", c.DiskInterface, diskInterfaces)
	check("disk_cache", c.DiskCache, diskCaches)
	check("disk_discard", c.DiskDiscard, diskDiscards)
	check("disk_detect_zeroes", c.DiskDetectZeroes, detectZeroes)
	if c.NetBridge == "" {
		check("net_device", c.NetDevice, netDevices)
	}
	if c.TPMDeviceType != "" {
		check("tpm_device_type", c.TPMDeviceType, tpmDeviceTypes)
		if !c.VTPM {
			bad("tpm_device_type is set but vtpm is false: set vtpm = true")
		}
	}

	// The source: an ISO (downloaded, checksummed) or a disk image.
	if c.ISOURL != "" && len(c.ISOURLs) > 0 && !c.prepared {
		bad("iso_url and iso_urls are both set: use only one")
	}
	if c.ISOURL != "" {
		c.ISOURLs = []string{c.ISOURL}
	}
	if len(c.ISOURLs) == 0 {
		bad("iso_url (or iso_urls) is required: it names the ISO, or with disk_image = true the disk image, to start from")
	}
	if c.ISOChecksum == "" {
		bad("iso_checksum is required: give \"sha256:<hex>\", \"file:<url of a checksum file>\", or \"none\" to skip the check")
	} else if err := checkChecksumSyntax(c.ISOChecksum); err != nil {
		errs = append(errs, err)
	}
	if c.ISOChecksum == "none" {
		warns = append(warns, "iso_checksum is \"none\": the source image is not verified; give a checksum in production templates")
	}
	if loc, ok := strings.CutPrefix(c.ISOChecksum, "file:"); ok && len(c.ISOURLs) > 0 {
		// As Packer: a local checksum file is read now, a missing one is
		// an error; a remote one is fetched when the build runs.
		if _, isURL := localPath(loc); isURL {
			warns = append(warns, "the iso_checksum file "+loc+" will be fetched when the build runs")
		} else if _, err := checksumFromFile(context.Background(), loc, c.ISOURLs[0]); err != nil {
			errs = append(errs, err)
		}
	}
	if c.UseBackingFile && !c.DiskImage {
		bad("use_backing_file = true needs disk_image = true")
	}
	if c.UseBackingFile && c.Format != "qcow2" {
		bad("use_backing_file = true needs format = \"qcow2\"")
	}
	if c.DiskCompression && c.Format != "qcow2" {
		bad("disk_compression = true needs format = \"qcow2\"")
	}
	if c.DiskCompression && c.SkipCompaction {
		warns = append(warns, "disk_compression has no effect with skip_compaction = true")
	}

	// Boot console.
	if len(c.BootCommand) > 0 && len(c.BootSteps) > 0 {
		bad("boot_command and boot_steps are both set: use only one")
	}
	for i, s := range c.BootSteps {
		if len(s) < 1 || len(s) > 2 {
			bad("boot_steps[%d] must be [\"keys\"] or [\"keys\", \"description\"]", i)
		}
	}
	if c.DisableVNC && (len(c.BootCommand) > 0 || len(c.BootSteps) > 0) {
		bad("boot_command needs VNC: remove disable_vnc or the boot_command")
	}
	for _, cmd := range c.bootCommands() {
		if _, err := parseKeys(cmd); err != nil {
			bad("boot_command: %v", err)
		}
	}
	portRange := func(name string, lo, hi int) {
		if lo > hi || lo < 1 || hi > 65535 {
			bad("%s_min (%d) and %s_max (%d) do not make a port range: min must be at most max, within 1-65535", name, lo, name, hi)
		}
	}
	portRange("vnc_port", c.VNCPortMin, c.VNCPortMax)
	portRange("http_port", c.HTTPPortMin, c.HTTPPortMax)
	portRange("host_port", c.HostPortMin, c.HostPortMax)

	if c.HTTPDir != "" && len(c.HTTPContent) > 0 {
		bad("http_directory and http_content are both set: use only one")
	}
	for _, f := range c.FloppyFiles {
		if _, err := os.Stat(f); err != nil {
			bad("floppy_files: %v", err)
		}
	}
	for _, f := range c.CDFiles {
		if strings.ContainsAny(f, "*?[") {
			continue // a glob, expanded when the CD is made
		}
		if _, err := os.Stat(f); err != nil {
			bad("cd_files: %v", err)
		}
	}

	// Firmware.
	if c.EFIFirmwareVars != "" && c.EFIFirmwareCode == "" {
		bad("efi_firmware_vars needs efi_firmware_code")
	}
	if c.EFIFirmwareCode != "" || c.EFIFirmwareVars != "" {
		c.EFIBoot = true
	}
	if c.EFIBoot && c.Firmware != "" {
		bad("firmware and efi_boot are both set: use firmware for a BIOS file, efi_* for UEFI")
	}
	if c.EFIBoot {
		code, vars := defaultOVMF()
		setDefault(&c.EFIFirmwareCode, code)
		setDefault(&c.EFIFirmwareVars, vars)
	}
	if c.Headless && c.Display != "" && c.Display != "none" {
		warns = append(warns, "display is ignored with headless = true")
	}

	if c.VNCPortMin < 5900 {
		bad("vnc_port_min %d is below 5900: QEMU numbers VNC displays from port 5900", c.VNCPortMin)
	}
	if c.VTPM {
		setDefault(&c.TPMDeviceType, "tpm-tis")
		if c.VTPMUseTPM1 && c.TPMDeviceType == "tpm-crb" {
			bad("tpm_device_type tpm-crb is TPM 2.0 only, and use_tpm1 is set: use tpm-tis")
		}
	}
	c.prepared = true
	cw, cerr := c.Config.Prepare()
	warns = append(warns, cw...)
	if cerr != nil {
		errs = append(errs, cerr)
	}
	return warns, errors.Join(errs...)
}

// bootCommands returns the key strings to type: boot_command as one
// string, or each boot_steps entry.
func (c *Config) bootCommands() []string {
	if len(c.BootSteps) > 0 {
		out := make([]string, 0, len(c.BootSteps))
		for _, s := range c.BootSteps {
			if len(s) > 0 {
				out = append(out, s[0])
			}
		}
		return out
	}
	if len(c.BootCommand) == 0 {
		return nil
	}
	return []string{strings.Join(c.BootCommand, "")}
}

func checkChecksumSyntax(sum string) error {
	if sum == "none" || strings.HasPrefix(sum, "file:") {
		return nil
	}
	typ, hexsum, ok := strings.Cut(sum, ":")
	if !ok {
		hexsum, typ = sum, guessChecksumType(sum)
	}
	if !slices.Contains(checksumTypes, typ) {
		return fmt.Errorf("iso_checksum %q: unknown checksum type %q: use md5, sha1, sha256 or sha512", sum, typ)
	}
	if !regexp.MustCompile(`^[0-9a-fA-F]+$`).MatchString(hexsum) {
		return fmt.Errorf("iso_checksum %q: the checksum is not hexadecimal", sum)
	}
	return nil
}

// guessChecksumType names the hash by the length of a bare checksum, as
// Packer does for iso_checksum values without a "type:" prefix.
func guessChecksumType(hexsum string) string {
	switch len(hexsum) {
	case 32:
		return "md5"
	case 40:
		return "sha1"
	case 64:
		return "sha256"
	case 128:
		return "sha512"
	}
	return "unknown"
}

func nonEmpty(s []string) []string {
	return slices.DeleteFunc(slices.Clone(s), func(v string) bool { return v == "" })
}

func setDefault(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setDefaultInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDefaultDuration(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}

// defaultOVMF is Packer's default UEFI firmware pair when present, else
// the 4 MiB pair that newer Debian and Ubuntu ship instead. Code and vars
// must come from the same pair.
func defaultOVMF() (code, vars string) {
	const dir = "/usr/share/OVMF/"
	if !fileExists(dir+"OVMF_CODE.fd") && fileExists(dir+"OVMF_CODE_4M.fd") {
		return dir + "OVMF_CODE_4M.fd", dir + "OVMF_VARS_4M.fd"
	}
	return dir + "OVMF_CODE.fd", dir + "OVMF_VARS.fd"
}
