package qemu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestGuestSeesTheFirmwareAndTPMItWasGiven boots the test VM under UEFI
// (OVMF, by direct kernel boot through the kernel's EFI stub) or BIOS, with
// a TPM from swtpm, and asks the guest what it got.
func TestGuestSeesTheFirmwareAndTPMItWasGiven(t *testing.T) {
	vm := needTestVM(t)
	testenv.NeedCommand(t, "swtpm")
	tests := []struct {
		name        string
		efi, tpm1   bool
		device      string
		wantVersion string
	}{
		{"UEFI with a TPM 2.0 on tpm-crb", true, false, "tpm-crb", "2"},
		{"BIOS with a TPM 1.2 on the default tpm-tis", false, true, "", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			swtpmBefore := swtpmProcesses()
			b := diskImageConfig(t, vm)
			c := &b.config
			c.EFIBoot, c.VTPM, c.VTPMUseTPM1, c.TPMDeviceType = tt.efi, true, tt.tpm1, tt.device
			c.SkipCompaction = true
			prepare(t, b)
			if tt.efi && !fileExists(c.EFIFirmwareCode) {
				testenv.Unavailable(t, "no OVMF at "+c.EFIFirmwareCode+": install ovmf")
			}
			var out syncBuffer
			check := func(ctx context.Context, comm communicator.Communicator, _ plugin.GeneratedData) error {
				cmd := "if [ -d /sys/firmware/efi ]; then echo uefi; else echo bios; fi; " +
					"test -c /dev/tpm0 && cat /sys/class/tpm/tpm0/tpm_version_major"
				status, err := comm.Run(ctx, &communicator.Cmd{Command: cmd, Stdout: &out, Stderr: &out})
				if err != nil || status != 0 {
					return errors.Join(err, errors.New("asking the guest failed: "+out.String()))
				}
				return nil
			}
			ui := newTestUI(t)
			if _, err := b.Run(testContext(t), buildEnv(ui, "fw", check)); err != nil {
				t.Fatalf("build failed: %v", err)
			}
			firmware := "bios"
			if tt.efi {
				firmware = "uefi"
			}
			if want := firmware + "\n" + tt.wantVersion + "\n"; out.String() != want {
				t.Errorf("the guest reports %q, want %q (firmware, then TPM major version)", out.String(), want)
			}
			vars := filepath.Join(c.OutputDir, "efivars.fd")
			got, err := os.ReadFile(vars)
			switch {
			case !tt.efi && err == nil:
				t.Errorf("a BIOS build left %s", vars)
			case tt.efi && err != nil:
				t.Errorf("the UEFI variables were not copied to the output directory: %v", err)
			case tt.efi:
				pristine, _ := os.ReadFile(c.EFIFirmwareVars)
				if bytes.Equal(got, pristine) {
					t.Errorf("%s is the untouched %s: the VM did not boot with it", vars, c.EFIFirmwareVars)
				}
			}
			if p := swtpmStartedSince(swtpmBefore); p != "" {
				t.Errorf("swtpm still runs after the build: %s", p)
			}
		})
	}
}

// swtpmProcesses returns the running swtpm processes that imgbuild
// started (by pid, with their command lines).
func swtpmProcesses() map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte("swtpm\x00socket")) && bytes.Contains(b, []byte("imgbuild-swtpm-")) && alive(pid) {
			out[pid] = strings.ReplaceAll(string(b), "\x00", " ")
		}
	}
	return out
}

// swtpmStartedSince returns the command line of an swtpm that runs now but
// was not running in before (other test processes may run their own).
func swtpmStartedSince(before map[int]string) string {
	for pid, cmd := range swtpmProcesses() {
		if _, old := before[pid]; !old {
			return cmd
		}
	}
	return ""
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "Z" is a zombie.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestSWTPMStopsAndRemovesItsStateOnEveryPath(t *testing.T) {
	testenv.NeedCommand(t, "swtpm")
	// Only this test's own swtpm processes are checked: other test
	// processes on the machine may run theirs.
	var pids []int
	defer func() {
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("swtpm %d still runs", pid)
			}
		}
	}()
	for _, tpm1 := range []bool{false, true} {
		tpm, err := startSWTPM(context.Background(), tpm1, &syscall.SysProcAttr{Setpgid: true})
		if err != nil {
			t.Fatalf("startSWTPM(tpm1=%t): %v", tpm1, err)
		}
		pids = append(pids, tpm.cmd.Process.Pid)
		if _, err := os.Stat(tpm.socket); err != nil {
			t.Errorf("its socket is missing: %v", err)
		}
		if err := tpm.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if _, err := os.Stat(tpm.dir); !os.IsNotExist(err) {
			t.Errorf("its state directory %s is left (stat: %v)", tpm.dir, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := startSWTPM(ctx, false, &syscall.SysProcAttr{Setpgid: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled start returned %v, want context.Canceled", err)
	}
}
