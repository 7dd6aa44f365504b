package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func minimal() *Builder {
	b := &Builder{}
	b.config.ISOURL = "disk.qcow2"
	b.config.ISOChecksum = "none"
	b.config.SSHUsername = "root"
	return b
}

func TestPrepareFillsPackersDefaults(t *testing.T) {
	b := minimal()
	if _, err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	c := b.config
	checks := []struct {
		name      string
		got, want any
	}{
		{"format", c.Format, "qcow2"},
		{"disk_size", c.DiskSize, "40960M"},
		{"disk_interface", c.DiskInterface, "virtio"},
		{"net_device", c.NetDevice, "virtio-net"},
		{"memory", c.MemorySize, 512},
		{"cpus", c.CPUs, 1},
		{"boot_wait", c.BootWait, 10 * time.Second},
		{"shutdown_timeout", c.ShutdownTimeout, 5 * time.Minute},
		{"host_port_min", c.HostPortMin, 2222},
		{"host_port_max", c.HostPortMax, 4444},
		{"vnc_port_min", c.VNCPortMin, 5900},
		{"http_port_min", c.HTTPPortMin, 8000},
		{"qemu_binary", c.QemuBinary, "qemu-system-x86_64"},
		{"ssh_port (the guest's)", c.SSHPort, 22},
		{"communicator", c.Type, "ssh"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestPrepareReadsABareDiskSizeAsMiB(t *testing.T) {
	b := minimal()
	b.config.DiskSize = "5000"
	if _, err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	if b.config.DiskSize != "5000M" {
		t.Errorf("disk_size = %q, want 5000M", b.config.DiskSize)
	}
}

func TestPrepareRejectsBadCombinations(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string
	}{
		{"missing iso_url", func(c *Config) { c.ISOURL = "" }, "iso_url"},
		{"missing iso_checksum", func(c *Config) { c.ISOChecksum = "" }, "iso_checksum is required"},
		{"unknown checksum type", func(c *Config) { c.ISOChecksum = "crc32:abcd" }, "unknown checksum type"},
		{"iso_url and iso_urls", func(c *Config) { c.ISOURLs = []string{"b"} }, "both set"},
		{"unknown format", func(c *Config) { c.Format = "vmdk" }, "format \"vmdk\""},
		{"unknown accelerator", func(c *Config) { c.Accelerator = "fast" }, "accelerator"},
		{"use_backing_file without disk_image", func(c *Config) { c.UseBackingFile = true }, "needs disk_image"},
		{"disk_compression with raw", func(c *Config) { c.DiskCompression = true; c.Format = "raw" }, "needs format"},
		{"boot_command and boot_steps", func(c *Config) {
			c.BootCommand = []string{"a"}
			c.BootSteps = [][]string{{"b"}}
		}, "both set"},
		{"inverted port range", func(c *Config) { c.HostPortMin, c.HostPortMax = 5000, 4000 }, "host_port"},
		{"vnc below 5900", func(c *Config) { c.VNCPortMin = 5000 }, "below 5900"},
		{"http_directory and http_content", func(c *Config) {
			c.HTTPDir = "."
			c.HTTPContent = map[string]string{"/a": "b"}
		}, "both set"},
		{"bad disk size", func(c *Config) { c.DiskSize = "big" }, "disk_size"},
		{"no ssh_username", func(c *Config) { c.SSHUsername = "" }, "ssh_username"},
		{"qmp_socket_path without qmp_enable", func(c *Config) { c.QMPSocketPath = "/tmp/q" }, "qmp_enable"},
		{"boot_command without VNC", func(c *Config) { c.DisableVNC = true; c.BootCommand = []string{"x"} }, "needs VNC"},
		{"tpm_device_type without vtpm", func(c *Config) { c.TPMDeviceType = "tpm-tis" }, "vtpm is false"},
		{"TPM 1.2 on tpm-crb", func(c *Config) { c.VTPM, c.VTPMUseTPM1, c.TPMDeviceType = true, true, "tpm-crb" }, "TPM 2.0 only"},
		{"efi_firmware_vars alone", func(c *Config) { c.EFIFirmwareVars = "/x/VARS.fd" }, "needs efi_firmware_code"},
		{"firmware with efi_boot", func(c *Config) { c.EFIBoot, c.Firmware = true, "bios.bin" }, "both set"},
		{"http_network_protocol unix", func(c *Config) { c.HTTPNetworkProtocol = "unix" }, "use tcp, tcp4 or tcp6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := minimal()
			tt.modify(&b.config)
			_, err := b.Prepare()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestQemuargsReplaceTheDefaultsOfTheSameFlag(t *testing.T) {
	b := minimal()
	b.config.QemuArgs = [][]string{{"-m", "8000M"}, {"-smp", "4"}, {"-append", "root=", "/dev/vda"}, {"-serial", "file:{{ .OutputDir }}/serial.log"}, {"-nographic"}}
	if _, err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	b.config.VMName = "vm"
	st := &state{cfg: &b.config, outputDir: "out", diskPaths: []string{"out/vm"}, sourcePath: "x.iso", accel: "tcg", sshPort: 3000, vncPort: 5901}
	args, err := buildArgs(st)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{"-m 8000M", "-smp 4", "-append root=/dev/vda", "-serial file:out/serial.log", "-nographic",
		"hostfwd=tcp::3000-:22", "-vnc 127.0.0.1:1", "-machine type=pc,accel=tcg", "-drive file=x.iso,media=cdrom", "-boot once=d"} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	for _, unwanted := range []string{"-m 512M", "-smp cpus=1"} {
		if strings.Contains(line, unwanted) {
			t.Errorf("default %q was not replaced by qemuargs:\n%s", unwanted, line)
		}
	}
}

func TestPrepareTwiceKeepsTheFirstResult(t *testing.T) {
	b := minimal()
	b.config.DiskImage = true
	for i := 0; i < 2; i++ {
		if _, err := b.Prepare(); err != nil {
			t.Fatalf("Prepare #%d: %v", i+1, err)
		}
	}
	if b.config.diskSizeSet {
		t.Error("the default disk_size counted as set on the second Prepare (the image would be resized)")
	}
}

func TestPrepareFillsFirmwareAndTPMDefaults(t *testing.T) {
	code, vars := defaultOVMF()
	tests := []struct {
		name               string
		modify             func(c *Config)
		wantEFI            bool
		wantCode, wantVars string
		wantTPMDevice      string
	}{
		{"efi_boot alone takes the installed OVMF pair", func(c *Config) { c.EFIBoot = true }, true, code, vars, ""},
		{"efi_firmware_code alone implies efi_boot", func(c *Config) { c.EFIFirmwareCode = "/fw/CODE.fd" }, true, "/fw/CODE.fd", vars, ""},
		{"vtpm defaults to tpm-tis", func(c *Config) { c.VTPM = true }, false, "", "", "tpm-tis"},
		{"tpm_device_type is kept", func(c *Config) { c.VTPM, c.TPMDeviceType = true, "tpm-crb" }, false, "", "", "tpm-crb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := minimal()
			tt.modify(&b.config)
			if _, err := b.Prepare(); err != nil {
				t.Fatal(err)
			}
			c := b.config
			if c.EFIBoot != tt.wantEFI || c.EFIFirmwareCode != tt.wantCode || c.EFIFirmwareVars != tt.wantVars || c.TPMDeviceType != tt.wantTPMDevice {
				t.Errorf("efi_boot %t code %q vars %q tpm_device_type %q, want %t %q %q %q",
					c.EFIBoot, c.EFIFirmwareCode, c.EFIFirmwareVars, c.TPMDeviceType, tt.wantEFI, tt.wantCode, tt.wantVars, tt.wantTPMDevice)
			}
		})
	}
}

func TestFirmwareAndTPMBecomeTheirQemuArguments(t *testing.T) {
	tests := []struct {
		name           string
		modify         func(c *Config)
		vars           string // state's efivars copy
		tpm            bool
		want, unwanted []string
	}{
		{"BIOS file", func(c *Config) { c.Firmware = "bios.bin" }, "", false,
			[]string{"-bios bios.bin"}, []string{"if=pflash"}},
		{"BIOS file as a pflash drive", func(c *Config) { c.Firmware, c.UsePFlash = "bios.bin", true }, "", false,
			[]string{"-drive if=pflash,format=raw,readonly=on,file=bios.bin"}, []string{"-bios"}},
		{"a VGA card", func(c *Config) { c.VGA = "virtio" }, "", false, []string{"-vga virtio"}, nil},
		{"UEFI with its variables copy", func(c *Config) { c.EFIFirmwareCode = "/fw/CODE.fd" }, "out/efivars.fd", false,
			[]string{"-drive if=pflash,unit=0,format=raw,readonly=on,file=/fw/CODE.fd", "-drive if=pflash,unit=1,format=raw,file=out/efivars.fd"}, []string{"-bios"}},
		{"UEFI with efi_drop_efivars", func(c *Config) { c.EFIBoot, c.EFIDropEFIVars = true, true }, "", false,
			[]string{"if=pflash,unit=0"}, []string{"unit=1"}},
		{"vTPM on tpm-crb", func(c *Config) { c.VTPM, c.TPMDeviceType = true, "tpm-crb" }, "", true,
			[]string{"-chardev socket,id=vtpm0,path=/run/t/swtpm.sock", "-tpmdev emulator,id=tpm0,chardev=vtpm0", "-device tpm-crb,tpmdev=tpm0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := minimal()
			tt.modify(&b.config)
			if _, err := b.Prepare(); err != nil {
				t.Fatal(err)
			}
			st := &state{cfg: &b.config, outputDir: "out", diskPaths: []string{"out/vm"}, sourcePath: "x.iso", accel: "tcg", efiVarsPath: tt.vars}
			if tt.tpm {
				st.tpm = &swtpm{socket: "/run/t/swtpm.sock"}
			}
			args, err := buildArgs(st)
			if err != nil {
				t.Fatal(err)
			}
			line := strings.Join(args, " ")
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("command line lacks %q:\n%s", w, line)
				}
			}
			for _, u := range tt.unwanted {
				if strings.Contains(line, u) {
					t.Errorf("command line has %q:\n%s", u, line)
				}
			}
		})
	}
}

// A local iso_checksum file is read while preparing, as Packer reads it
// during validate; a remote one is fetched when the build runs (issue 11
// defect 1).
func TestPrepareReadsALocalChecksumFileAndDefersARemoteOne(t *testing.T) {
	dir := t.TempDir()
	sums := filepath.Join(dir, "SHA256SUMS")
	if err := os.WriteFile(sums, []byte(strings.Repeat("ab", 32)+"  disk.qcow2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		checksum, wantErr, wantWarning string
	}{
		{"file:" + sums, "", ""},
		{"file:" + filepath.Join(dir, "missing"), "reading the iso_checksum file", ""},
		{"file:https://example.invalid/SHA256SUMS", "", "will be fetched when the build runs"},
	} {
		b := minimal()
		b.config.ISOURL = "https://example.invalid/images/disk.qcow2"
		b.config.ISOChecksum = c.checksum
		warns, err := b.Prepare()
		if (c.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: err = %v, want %q", c.checksum, err, c.wantErr)
		}
		if c.wantWarning != "" && !strings.Contains(strings.Join(warns, "\n"), c.wantWarning) {
			t.Errorf("%s: warnings %q lack %q", c.checksum, warns, c.wantWarning)
		}
	}
}
