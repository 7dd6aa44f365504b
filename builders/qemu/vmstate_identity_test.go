package qemu

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// identityOf is the machine identity of a disk_image build with a vTPM
// whose QEMU has (tpmSocket != "") or has not yet started its vTPM.
func identityOf(t *testing.T, dir, tpmSocket string, port int) string {
	t.Helper()
	b := &Builder{}
	c := &b.config
	c.ISOURL, c.ISOChecksum, c.DiskImage, c.Headless = filepath.Join(dir, "disk.qcow2"), "none", true, true
	c.SSHUsername, c.SSHPassword, c.VTPM = "root", "x", true
	if _, err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	st := &state{cfg: c, env: &plugin.BuildEnv{}, accel: "tcg", sshHost: "127.0.0.1", sshPort: port,
		outputDir: filepath.Join(dir, "out"), diskPaths: []string{filepath.Join(dir, "active-x.qcow2")},
		cache: &cacheState{resume: &plugin.Resume{}}}
	if tpmSocket != "" {
		st.tpm = &swtpm{socket: tpmSocket}
	}
	id, err := st.cache.machineIdentity(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return id.digest
}

// The identity a resume checks (asked before QEMU and its vTPM start) is
// the one the states were saved under (asked while they run): the ports
// and the vTPM's socket are run-dependent and left out.
func TestMachineIdentityIsTheSameBeforeAndAfterQEMUStarts(t *testing.T) {
	testenv.NeedCommand(t, "qemu-system-x86_64")
	dir := t.TempDir()
	before := identityOf(t, dir, "", 2222)
	after := identityOf(t, dir, filepath.Join(dir, "swtpm-123", "sock"), 3333)
	if before != after {
		t.Errorf("the identity depends on when it is computed: %s before QEMU starts, %s after", before, after)
	}
}
