package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/provisioners/file"
	"github.com/imgbuild/imgbuild/provisioners/shell"
)

// provisioners runs real shell and file provisioners, as the orchestrator
// would, and records the generated data it was given.
func provisioners(t *testing.T, ui plugin.UI, gotData *plugin.GeneratedData, ps ...plugin.Provisioner) plugin.ProvisionFunc {
	return func(ctx context.Context, comm communicator.Communicator, data plugin.GeneratedData) error {
		*gotData = data
		for _, p := range ps {
			if _, err := p.Prepare(); err != nil {
				t.Fatalf("preparing a provisioner: %v", err)
			}
			err := p.Provision(ctx, &plugin.ProvisionEnv{UI: ui, Comm: comm, Generated: data, BuildName: "qemu.test", SourceType: "qemu", SourceName: "test", RunUUID: "test-run"})
			if err != nil {
				return err
			}
		}
		return nil
	}
}

func shellInline(lines ...string) plugin.Provisioner {
	p, _ := plugin.NewProvisioner("shell")
	p.Config().(*shell.Config).Inline = lines
	return p
}

func fileUpload(src, dst string) plugin.Provisioner {
	p, _ := plugin.NewProvisioner("file")
	c := p.Config().(*file.Config)
	c.Source, c.Destination = src, dst
	return p
}

func TestDiskImageBuildWritesProvisionedFilesIntoTheQcow2(t *testing.T) {
	vm := needTestVM(t)
	b := diskImageConfig(t, vm)
	b.config.DiskSize = "300M" // grows the 256M image (checked below)
	prepare(t, b)
	upload := filepath.Join(t.TempDir(), "uploaded.txt")
	if err := os.WriteFile(upload, []byte("uploaded by the file provisioner\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ui := newTestUI(t)
	var data plugin.GeneratedData
	env := buildEnv(ui, "disk", provisioners(t, ui, &data,
		fileUpload(upload, "/root/uploaded.txt"),
		shellInline("echo \"shell ran on $(hostname)\" > /root/provisioned.txt", "sync"),
	))
	art, err := b.Run(testContext(t), env)
	if err != nil {
		t.Fatalf("build failed: %v", err)
	}
	if art.BuilderID() != "transcend.qemu" || art.State("diskType") != "qcow2" || art.State("diskName") != b.config.VMName {
		t.Errorf("BuilderID = %q, diskType %v, diskName %v", art.BuilderID(), art.State("diskType"), art.State("diskName"))
	}
	files := art.Files()
	want := filepath.Join(b.config.OutputDir, b.config.VMName)
	if len(files) != 1 || files[0] != want {
		t.Fatalf("artifact files = %v, want [%s]", files, want)
	}
	if data["Host"] != "127.0.0.1" || data["User"] != "root" || data["Port"] == "" || data["Port"] == "22" {
		t.Errorf("generated data = %v, want Host 127.0.0.1, User root and the forwarded port", data)
	}
	info, err := imageInfo(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != "qcow2" || info.VirtualSize != 300<<20 {
		t.Errorf("image is %s of %d bytes, want qcow2 of 300 MiB", info.Format, info.VirtualSize)
	}
	if got := readFromImage(t, want, "/root/uploaded.txt"); got != "uploaded by the file provisioner\n" {
		t.Errorf("/root/uploaded.txt in the image = %q", got)
	}
	if got := readFromImage(t, want, "/root/provisioned.txt"); got != "shell ran on imgbuild-test\n" {
		t.Errorf("/root/provisioned.txt in the image = %q", got)
	}
	if qemuRunning(b.config.VMName) {
		t.Errorf("qemu still runs after a successful build")
	}
}

func TestBootCommandTypesTheKeyAndCommandsAndTheGuestFetchesHTTPContent(t *testing.T) {
	vm := needTestVM(t)
	b := &Builder{}
	c := &b.config
	c.ISOURL = "file://" + vm.liveISO
	c.ISOChecksum = "sha256:" + vm.liveSHA256
	c.DiskSize = "64M"
	c.Headless = true
	c.OutputDir = filepath.Join(t.TempDir(), "output")
	c.VMName = uniqueName(t)
	// No password: the builder's temporary key reaches the guest only by
	// being typed, so connecting proves {{ .SSHPublicKey }} was typed right.
	c.Type, c.SSHUsername, c.TemporaryKeyPairType = "ssh", "root", "ed25519"
	c.VNCUsePassword = true
	c.SSHTimeout = 2 * time.Minute
	c.ShutdownCommand = "poweroff"
	c.SkipCompaction = true
	httpDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(httpDir, "hello.txt"), []byte("served over http\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.HTTPDir = httpDir
	// Typing starts when the console says it reads keys (keys typed
	// before are lost). The typed arithmetic and key prove shifted
	// characters arrive intact.
	c.BootKeyInterval = 40 * time.Millisecond
	c.BootCommand = []string{
		"echo '{{ .SSHPublicKey }}' > /root/.ssh/authorized_keys<enter>",
		"while [ ! -e /run/ready ]; do sleep 0.2; done; ",
		"wget -qO /root/fetched http://{{ .HTTPIP }}:{{ .HTTPPort }}/hello.txt; ",
		"echo typed $((6*7)) > /root/typed<enter>",
	}
	c.QemuArgs = [][]string{{"-kernel", vm.kernel}, {"-initrd", vm.initrd}, {"-append", "quiet"}}

	ui := newTestUI(t)
	var data plugin.GeneratedData
	var out syncBuffer
	check := func(ctx context.Context, comm communicator.Communicator, d plugin.GeneratedData) error {
		data = d
		// The typed line may still be running when SSH answers.
		cmd := "for i in $(seq 1 50); do [ -s /root/typed ] && [ -s /root/fetched ] && break; sleep 0.2; done; cat /root/typed /root/fetched"
		status, err := comm.Run(ctx, &communicator.Cmd{Command: cmd, Stdout: &out, Stderr: &out})
		if err != nil || status != 0 {
			return errors.Join(err, errors.New("reading the typed command's result failed: "+out.String()))
		}
		return nil
	}
	env := buildEnv(ui, "live", check)
	typeWhenConsoleReady(t, b, env)
	prepare(t, b)
	if _, err := b.Run(testContext(t), env); err != nil {
		t.Fatalf("build failed: %v", err)
	}
	want := "typed 42\nserved over http\n"
	if out.String() != want {
		t.Errorf("guest files = %q, want %q", out.String(), want)
	}
	if !strings.HasPrefix(data["SSHPublicKey"], "ssh-ed25519 ") {
		t.Errorf("build.SSHPublicKey = %q, want the temporary ed25519 key", data["SSHPublicKey"])
	}
	if data["PackerHTTPIP"] != "10.0.2.2" || data["PackerHTTPPort"] == "" {
		t.Errorf("generated HTTP data = %v", data)
	}
}

func TestCancelDuringBootLeavesNoQemuNoPortNoOutput(t *testing.T) {
	vm := needTestVM(t)
	b := diskImageConfig(t, vm)
	prepare(t, b)
	ui := newTestUI(t)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	// Cancel (as Ctrl-C does) once QEMU runs and the builder waits for SSH.
	ui.onSay = func(msg string) {
		if strings.HasPrefix(msg, "Waiting for SSH") {
			go func() { time.Sleep(500 * time.Millisecond); cancel() }()
		}
	}
	provisioned := false
	env := buildEnv(ui, "cancel", func(context.Context, communicator.Communicator, plugin.GeneratedData) error {
		provisioned = true
		return nil
	})
	start := time.Now()
	_, err := b.Run(ctx, env)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if provisioned {
		t.Error("provisioners ran after the build was cancelled")
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("cancelling took %s", d)
	}
	port := ""
	if i := strings.Index(ui.text(), "Waiting for SSH on 127.0.0.1:"); i >= 0 {
		port = strings.Fields(ui.text()[i+len("Waiting for SSH on 127.0.0.1:"):])[0]
	}
	if port == "" {
		t.Fatal("the builder never said which port it forwards")
	}
	assertNothingLeft(t, b, port)
}

// syncBuffer is shared by stdout, stderr and parallel builds.
type syncBuffer = testenv.SyncBuffer

func TestQemuRefusingItsArgumentsFailsWithItsMessageAndLeavesNothing(t *testing.T) {
	vm := needTestVM(t)
	b := diskImageConfig(t, vm)
	b.config.QemuArgs = append(b.config.QemuArgs, []string{"-no-such-option"})
	prepare(t, b)
	start := time.Now()
	_, err := b.Run(testContext(t), buildEnv(newTestUI(t), "badargs", nil))
	if err == nil || !strings.Contains(err.Error(), "qemu exited") || !strings.Contains(err.Error(), "no-such-option") {
		t.Fatalf("err = %v, want qemu's own complaint", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("failing took %s: QEMU's exit should end the wait for SSH at once", d)
	}
	assertNothingLeft(t, b, "")
}

func TestCommunicatorNoneWaitsForTheGuestToPowerOffAfterBootSteps(t *testing.T) {
	vm := needTestVM(t)
	b := &Builder{}
	c := &b.config
	c.ISOURL = vm.liveISO
	c.ISOChecksum = "sha256:" + vm.liveSHA256
	c.DiskSize = "16M"
	c.Headless = true
	c.OutputDir = filepath.Join(t.TempDir(), "output")
	c.VMName = uniqueName(t)
	c.Type = "none"
	c.ShutdownTimeout = 2 * time.Minute
	c.BootKeyInterval = 40 * time.Millisecond
	// The unattended "installer": its last step powers the machine off.
	c.BootSteps = [][]string{{"<enter>", "wake the console"}, {"poweroff<enter>", "power off"}}
	c.QemuArgs = [][]string{{"-kernel", vm.kernel}, {"-initrd", vm.initrd}, {"-append", "quiet"}}
	ui := newTestUI(t)
	env := buildEnv(ui, "none", nil)
	typeWhenConsoleReady(t, b, env)
	prepare(t, b)
	art, err := b.Run(testContext(t), env)
	if err != nil {
		t.Fatalf("build failed: %v", err)
	}
	if !strings.Contains(ui.text(), "Typing boot step 2/2: power off") {
		t.Errorf("boot_steps were not announced with their descriptions:\n%s", ui.text())
	}
	if _, err := os.Stat(art.Files()[0]); err != nil {
		t.Errorf("the output image is missing: %v", err)
	}
	if qemuRunning(c.VMName) {
		t.Error("qemu still runs")
	}
}
