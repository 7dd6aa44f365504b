package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestCDHoldsCDFilesAndCDContentUnderItsLabel(t *testing.T) {
	xorriso := testenv.NeedCommand(t, "xorriso")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "script.sh"), []byte("echo hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := &state{cfg: &Config{
		CDFiles:   []string{filepath.Join(dir, "script.sh")},
		CDContent: map[string]string{"meta-data": "instance-id: x\n", "nested/user-data": "#cloud-config\n"},
		CDLabel:   "cidata",
	}, ui: newTestUI(t)}
	cleanup, err := stepCD(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xorriso, "-indev", st.cdPath, "-pvd_info", "-find", "/", "-type", "f").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v: %s", err, out)
	}
	for _, want := range []string{"Volume Id    : cidata", "'/script.sh'", "'/meta-data'", "'/nested/user-data'"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the CD lacks %s:\n%s", want, out)
		}
	}
	if err := cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(st.cdPath); !os.IsNotExist(err) {
		t.Errorf("the CD image was not removed by the cleanup")
	}
}

func TestFloppyHoldsFloppyFilesDirsAndContent(t *testing.T) {
	testenv.NeedCommand(t, "mkfs.fat")
	mdir := testenv.NeedCommand(t, "mdir")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "autounattend.xml"), []byte("<xml/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "drivers", "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "drivers", "net", "nic.inf"), []byte("inf"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := &state{cfg: &Config{
		FloppyFiles:   []string{filepath.Join(dir, "autounattend.xml")},
		FloppyDirs:    []string{filepath.Join(dir, "drivers")},
		FloppyContent: map[string]string{"setup.ps1": "Write-Host hi"},
		FloppyLabel:   "floppy",
	}, ui: newTestUI(t)}
	cleanup, err := stepFloppy(context.Background(), st)
	if cleanup != nil {
		defer cleanup(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(mdir, "-/", "-b", "-i", st.floppyPath, "::/").CombinedOutput()
	if err != nil {
		t.Fatalf("mdir: %v: %s", err, out)
	}
	for _, want := range []string{"::/autounattend.xml", "::/setup.ps1", "::/drivers/net/nic.inf"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the floppy lacks %s:\n%s", want, out)
		}
	}
}
