package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// resumeTemplate is a disk_image build of the test VM with three shell
// provisioners; each prints the guest's boot id, so the output tells
// whether the guest booted between them, and the third prints the
// guest's clock and writes a value from a variable.
const resumeTemplate = `
variable "out" { type = string }
variable "third" {
  type    = string
  default = "third v1"
}
variable "machine" {
  type    = string
  default = "pc"
}
source "qemu" "resumed" {
  machine_type     = var.machine
  iso_url          = "%s"
  iso_checksum     = "sha256:%s"
  disk_image       = true
  headless         = true
  output_directory = var.out
  vm_name          = "%s"
  ssh_username     = "root"
  ssh_password     = "%s"
  ssh_timeout      = "2m"
  shutdown_command = "poweroff"
  memory           = 256
  qemuargs = [["-kernel", "%s"], ["-initrd", "%s"], ["-append", "root=/dev/vda quiet"]]
}
build {
  sources = ["source.qemu.resumed"]
  provisioner "shell" {
    inline = ["echo BOOT1=$(cat /proc/sys/kernel/random/boot_id)", "mkdir -p /opt/app", "echo one > /opt/app/one"]
  }
  provisioner "shell" {
    inline = ["echo BOOT2=$(cat /proc/sys/kernel/random/boot_id)", "echo two > /opt/app/two"]
  }
  provisioner "shell" {
    inline = ["echo BOOT3=$(cat /proc/sys/kernel/random/boot_id) CLOCK3=$(date +%%s)", "echo '${var.third}' > /opt/app/three"]
  }
}
`

var bootLine = regexp.MustCompile(`BOOT(\d)=([0-9a-f-]{36})`)

// bootIDs returns the boot id each provisioner printed, by provisioner.
func bootIDs(out string) map[int]string {
	ids := map[int]string{}
	for _, m := range bootLine.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		ids[n] = m[2]
	}
	return ids
}

// With -cache, the last checkpoints keep the running VM: a rebuild whose
// third provisioner changed restores the VM as it was after the second
// instead of booting it (the guest's boot id is the cold build's), sets
// its clock, and makes the same image as a cold build. A state that
// cannot be restored (truncated, or made by another QEMU) falls back to
// booting from the disk layer, said once, and the image is still right.
func TestQemuCacheResumesTheVMFromItsSavedStateInsteadOfBooting(t *testing.T) {
	bin := testenv.Binary(t)
	work := t.TempDir()
	vm := privateTestVM(t, work)
	sum := vm.diskSHA256
	name := uniqueName(t)
	tpl := filepath.Join(work, "resumed.pkr.hcl")
	content := fmt.Sprintf(resumeTemplate, vm.disk, sum, name, vm.password, vm.kernel, vm.initrd)
	if err := os.WriteFile(tpl, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cacheDir := cacheForTest(t, bin, "vmstate") // prune must remove the VM states too
	data := filepath.Join(cacheDir, "data")
	machine := "pc"
	build := func(out string, cached bool, third string) string {
		t.Helper()
		args := []string{"build"}
		if cached {
			args = append(args, "-cache")
		}
		args = append(args, "-var", "out="+filepath.Join(work, "out-"+out), "-var", "third="+third, "-var", "machine="+machine, tpl)
		output := runVMBuild(t, bin, work, cacheDir, name, out, args)
		if strings.Contains(output, "Saving the VM's state with this checkpoint failed") {
			t.Errorf("build %s could not save a VM state:\n%s", out, output)
		}
		return output
	}
	image := func(out string) string { return filepath.Join(work, "out-"+out, name) }
	states := func() []string {
		s, _ := filepath.Glob(filepath.Join(data, "*.vmstate.zst"))
		return s
	}

	cold := build("cold", true, "third v1")
	coldBoot := bootIDs(cold)
	if len(coldBoot) != 3 || coldBoot[1] != coldBoot[2] || coldBoot[2] != coldBoot[3] {
		t.Fatalf("the cold build's provisioners did not all run in one boot: %v\n%s", coldBoot, cold)
	}
	if got := len(states()); got != 2 {
		t.Errorf("the cold build kept %d VM states, want 2 (the checkpoints before its last)", got)
	}
	ls := exec.Command(bin, "cache", "ls")
	ls.Env = append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
	if out, err := ls.CombinedOutput(); err != nil || strings.Count(string(out), "VM state (") != 2 {
		t.Errorf("cache ls does not show the two VM states (%v):\n%s", err, out)
	}

	// The third provisioner changed: resume from the second's state.
	resumed := build("resumed", true, "third v2")
	ids := bootIDs(resumed)
	if _, ran := ids[2]; ran || ids[3] == "" {
		t.Fatalf("the rebuild did not run exactly the third provisioner: %v\n%s", ids, resumed)
	}
	if ids[3] != coldBoot[2] {
		t.Errorf("the guest booted again (boot id %s, the cold build's was %s):\n%s", ids[3], coldBoot[2], resumed)
	}
	if !strings.Contains(resumed, "Resumed the VM from the state saved with checkpoint") {
		t.Errorf("the rebuild does not say it resumed the VM:\n%s", resumed)
	}
	if m := regexp.MustCompile(`CLOCK3=(\d+)`).FindStringSubmatch(resumed); m == nil {
		t.Errorf("the third provisioner printed no clock:\n%s", resumed)
	} else if guest, _ := strconv.ParseInt(m[1], 10, 64); abs64(guest-time.Now().Unix()) > 120 {
		t.Errorf("the resumed guest's clock is %d, the host's %d: it was not set", guest, time.Now().Unix())
	}

	// The image equals a cold build's, but for what every boot changes.
	build("ref-v2", false, "third v2")
	ref := imageTree(t, image("ref-v2"))
	noise := changedPaths(imageTree(t, image("cold")), ref)
	delete(noise, "opt/app/three")
	if len(noise) > 10 {
		t.Fatalf("%d files differ between two cold builds beyond the changed one: %v", len(noise), noise)
	}
	if diffs := treeDiff(imageTree(t, image("resumed")), ref, noise); len(diffs) > 0 {
		t.Errorf("the resumed build's image differs from a cold build's:\n%s", strings.Join(diffs, "\n"))
	}

	// Fallbacks. The rebuild resumes from checkpoint 2, whose state is
	// the newer of the two kept (1 and 2).
	second := newestState(t, states())
	corrupt := func(how string, damage func(layer string)) {
		t.Helper()
		damage(second)
		third := "third " + how
		out := build(how, true, third)
		if !strings.Contains(out, "booting from the disk layer") || strings.Count(out, "booting from the disk layer") != 1 {
			t.Errorf("%s: the rebuild does not say once that it boots instead:\n%s", how, out)
		}
		if ids := bootIDs(out); ids[3] == "" || ids[3] == coldBoot[2] {
			t.Errorf("%s: the rebuild did not boot the VM (boot id %q):\n%s", how, ids[3], out)
		}
		tree := imageTree(t, image(how))
		if got := tree["opt/app/three"]; got == ref["opt/app/three"] || got == "" {
			t.Errorf("%s: /opt/app/three is not the new value", how)
		}
		if tree["opt/app/two"] != ref["opt/app/two"] || tree["opt/app/one"] != ref["opt/app/one"] {
			t.Errorf("%s: the files of the cached steps are not in the image", how)
		}
	}
	corrupt("truncated", func(layer string) {
		st, err := os.Stat(layer)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(layer, st.Size()/2); err != nil {
			t.Fatal(err)
		}
	})
	// The fallback dropped the state that failed; start again from an
	// empty cache for the next case.
	prune := exec.Command(bin, "cache", "prune", "--all")
	prune.Env = append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
	if out, err := prune.CombinedOutput(); err != nil {
		t.Fatalf("cache prune --all: %v\n%s", err, out)
	}
	coldAgain := build("cold-again", true, "third v1")
	coldBoot = bootIDs(coldAgain)
	if got := len(states()); got != 2 {
		t.Fatalf("the second cold build kept %d VM states, want 2:\n%s", got, coldAgain)
	}
	second = newestState(t, states())
	// The machine type changed: the disk layers still serve (the board
	// does not change what the provisioners wrote), the VM state does not.
	machine = "q35"
	corrupt("machine-type", func(string) {})
	machine = "pc"
	if out := build("pc-again", true, "third v1"); !strings.Contains(out, "Provisioner 3 (shell) restored from cache") {
		t.Errorf("changing the machine type back lost the checkpoints:\n%s", out)
	}
	second = newestState(t, states())
	corrupt("other-qemu", func(layer string) {
		info := strings.TrimSuffix(layer, ".zst") + ".json"
		raw, err := os.ReadFile(info)
		if err != nil {
			t.Fatal(err)
		}
		faked := regexp.MustCompile(`"machine":"[0-9a-f]+"`).ReplaceAll(raw, []byte(`"machine":"0000"`))
		faked = regexp.MustCompile(`"qemu":"[^"]*"`).ReplaceAll(faked, []byte(`"qemu":"QEMU emulator version 1.0"`))
		if err := os.WriteFile(info, faked, 0o600); err != nil {
			t.Fatal(err)
		}
	})
}

// newestState returns the state file saved last among states.
func newestState(t *testing.T, states []string) string {
	t.Helper()
	if len(states) == 0 {
		t.Fatal("no VM state was kept")
	}
	newest, when := "", time.Time{}
	for _, s := range states {
		st, err := os.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		if newest == "" || st.ModTime().After(when) {
			newest, when = s, st.ModTime()
		}
	}
	return newest
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// runVMBuild runs imgbuild with args in work, with cacheDir as its cache,
// for the build whose VM is named name, and returns its output. It fails
// the test when the build fails or leaves its QEMU running.
func runVMBuild(t *testing.T, bin, work, cacheDir, name, out string, args []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "IMGBUILD_CACHE_DIR="+cacheDir)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		t.Fatalf("build %s failed: %v\n%s", out, err, buf.String())
	}
	if qemuRunning(name) {
		t.Errorf("build %s left a qemu process running", out)
	}
	return buf.String()
}
