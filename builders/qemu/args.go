package qemu

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// qemuArg is one flag and its values, in command-line order.
type qemuArg struct {
	flag   string
	values []string
}

type argList []qemuArg

func (l *argList) add(flag string, values ...string) { *l = append(*l, qemuArg{flag, values}) }

// qemuArgsData is what {{ .X }} in qemuargs can refer to, as in Packer.
type qemuArgsData struct {
	HTTPIP, HTTPPort, HTTPDir, OutputDir, Name string
	SSHHostPort                                int
}

// buildArgs assembles QEMU's command line: the builder's defaults, where
// any flag the template's qemuargs also gives is dropped in favour of the
// template's (Packer's rule), then the template's qemuargs.
func buildArgs(st *state) ([]string, error) {
	c := st.cfg
	var d argList
	d.add("-name", c.VMName)
	machine := "type=" + c.MachineType + ",accel=" + st.accel
	d.add("-machine", machine)

	switch {
	case c.NetBridge != "":
		d.add("-netdev", "bridge,id=user.0,br="+c.NetBridge)
	case c.Type == "none" || c.SkipNatMapping:
		d.add("-netdev", "user,id=user.0")
	default:
		d.add("-netdev", fmt.Sprintf("user,id=user.0,hostfwd=tcp::%d-:%d", st.sshPort, c.SSHPort))
	}
	d.add("-device", c.NetDevice+",netdev=user.0")

	for i, p := range st.diskPaths {
		drive := fmt.Sprintf("file=%s,cache=%s,discard=%s,detect-zeroes=%s,format=%s",
			p, c.DiskCache, c.DiskDiscard, c.DiskDetectZeroes, c.Format)
		switch c.DiskInterface {
		case "virtio-scsi":
			if i == 0 {
				d.add("-device", "virtio-scsi-pci,id=scsi0")
			}
			d.add("-device", fmt.Sprintf("scsi-hd,bus=scsi0.0,drive=drive%d", i))
			drive += fmt.Sprintf(",if=none,id=drive%d", i)
		case "sata":
			if i == 0 {
				d.add("-device", "ahci,id=ahci0")
			}
			d.add("-device", fmt.Sprintf("ide-hd,bus=ahci0.%d,drive=drive%d", i, i))
			drive += fmt.Sprintf(",if=none,id=drive%d", i)
		default:
			drive += ",if=" + c.DiskInterface
		}
		d.add("-drive", drive)
	}
	cdrom := func(p string) string {
		if c.CDROMInterface != "" {
			return "file=" + p + ",media=cdrom,if=" + c.CDROMInterface
		}
		return "file=" + p + ",media=cdrom"
	}
	if !c.DiskImage {
		d.add("-drive", cdrom(st.sourcePath))
		d.add("-boot", "once=d")
	}
	if st.cdPath != "" {
		d.add("-drive", cdrom(st.cdPath))
	}
	if st.floppyPath != "" {
		d.add("-fda", st.floppyPath)
	}
	if c.EFIBoot {
		d.add("-drive", "if=pflash,unit=0,format=raw,readonly=on,file="+c.EFIFirmwareCode)
		if !c.EFIDropEFIVars && st.efiVarsPath != "" {
			d.add("-drive", "if=pflash,unit=1,format=raw,file="+st.efiVarsPath)
		}
	} else if c.Firmware != "" && c.UsePFlash {
		d.add("-drive", "if=pflash,format=raw,readonly=on,file="+c.Firmware)
	} else if c.Firmware != "" {
		d.add("-bios", c.Firmware)
	}
	if st.tpm != nil {
		for _, a := range tpmArgs(st.tpm.socket, c.TPMDeviceType) {
			d.add(a[0], a[1])
		}
	}

	if !c.DisableVNC {
		vnc := fmt.Sprintf("%s:%d", c.VNCBindAddress, st.vncPort-5900)
		if st.vncPasswordFile != "" {
			d.add("-object", "secret,id=vncpass0,file="+st.vncPasswordFile)
			vnc += ",password-secret=vncpass0"
		}
		d.add("-vnc", vnc)
	}
	switch {
	case c.Headless:
		d.add("-display", "none")
	case c.Display != "":
		d.add("-display", c.Display)
	case c.UseDefaultDisplay:
	case os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "":
		// No screen to show a window on: behave as headless.
		d.add("-display", "none")
	}
	if c.VGA != "" {
		d.add("-vga", c.VGA)
	}
	d.add("-m", strconv.Itoa(c.MemorySize)+"M")
	smp := "cpus=" + strconv.Itoa(c.CPUs)
	for _, kv := range []struct {
		k string
		v int
	}{{"sockets", c.Sockets}, {"cores", c.Cores}, {"threads", c.Threads}} {
		if kv.v > 0 {
			smp += fmt.Sprintf(",%s=%d", kv.k, kv.v)
		}
	}
	d.add("-smp", smp)
	if c.CPUModel != "" {
		d.add("-cpu", c.CPUModel)
	}
	if st.qmpPath != "" {
		d.add("-qmp", "unix:"+st.qmpPath+",server,nowait")
	}

	user, err := userArgs(st)
	if err != nil {
		return nil, err
	}
	overridden := map[string]bool{}
	for _, a := range user {
		overridden[a.flag] = true
	}
	var out []string
	for _, a := range d {
		if overridden[a.flag] {
			continue
		}
		out = append(out, a.flag)
		out = append(out, a.values...)
	}
	for _, a := range user {
		out = append(out, a.flag)
		out = append(out, a.values...)
	}
	return out, nil
}

// userArgs expands template values in qemuargs. Each entry is a flag
// followed by parts that are joined into its one value, as in Packer.
func userArgs(st *state) (argList, error) {
	data := qemuArgsData{
		HTTPIP: st.httpIP, HTTPPort: st.httpPort, HTTPDir: st.cfg.HTTPDir,
		OutputDir: st.outputDir, Name: st.cfg.VMName, SSHHostPort: st.sshPort,
	}
	var l argList
	for i, entry := range st.cfg.QemuArgs {
		if len(entry) == 0 {
			continue
		}
		parts := make([]string, len(entry))
		for j, s := range entry {
			v, err := expand(s, data)
			if err != nil {
				return nil, fmt.Errorf("qemuargs[%d][%d]: %w", i, j, err)
			}
			parts[j] = v
		}
		if len(parts) == 1 {
			l.add(parts[0])
		} else {
			l.add(parts[0], strings.Join(parts[1:], ""))
		}
	}
	return l, nil
}

func expand(s string, data any) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	t, err := template.New("").Option("missingkey=error").Parse(s)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// commandLine shows the command line with secrets masked, for the log.
func commandLine(binary string, args []string) string {
	shown := slices.Clone(args)
	for i, a := range shown {
		if strings.HasPrefix(a, "secret,") {
			shown[i] = "secret,<sensitive>"
		}
	}
	return filepath.Base(binary) + " " + strings.Join(shown, " ")
}
