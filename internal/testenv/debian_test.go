package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

func TestDebianImagesAreBookwormAndTheAnsibleOneRunsPythonAndAnsible(t *testing.T) {
	run := func(image, script string) string {
		t.Helper()
		out, err := exec.Command("docker", "run", "--rm", image, "sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("docker run %s: %v\n%s", image, err, out)
		}
		return string(out)
	}
	base := DebianImage(t)
	if out := run(base, "cat /etc/debian_version; command -v python3 || echo no-python"); !strings.HasPrefix(out, "12.") || !strings.Contains(out, "no-python") {
		t.Errorf("%s: want Debian 12 without Python (minbase), got %q", base, out)
	}
	ansible := DebianAnsibleImage(t)
	out := run(ansible, "python3 --version; ansible-playbook --version")
	if !strings.Contains(out, "Python 3.") || !strings.Contains(out, "ansible-playbook [core ") {
		t.Errorf("%s: want python3 and ansible-playbook, got %q", ansible, out)
	}
}

func TestDebianVMBootsToSSHWithPythonAndSudoUnderSystemdAndUnderTheFastInit(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM twice")
	}
	NeedCommand(t, "qemu-system-x86_64")
	vm := DebianVM(t)
	for _, boot := range []struct{ name, appendLine, wantInit string }{
		{"systemd", vm.SystemdAppend, "systemd"},
		{"fast", vm.FastAppend, "imgbuild-fast-i"},
	} {
		t.Run(boot.name, func(t *testing.T) {
			client, stop := bootDebianVM(t, vm, boot.appendLine)
			out := sshRun(t, client, "python3 --version; sudo -n id -u; ps -o comm= -p 1")
			want := []string{"Python 3.11", "\n0\n", boot.wantInit}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("guest said %q, want it to contain %q", out, w)
				}
			}
			stop()
		})
	}
}

// bootDebianVM boots vm under TCG with a forwarded SSH port, logs the time
// to SSH, and returns a client logged in as the debian user and a function
// that powers the guest off and checks that QEMU exits.
func bootDebianVM(t *testing.T, vm DebianVMFiles, appendLine string) (*gossh.Client, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	serial := filepath.Join(t.TempDir(), "serial.log")
	start := time.Now()
	cmd := exec.Command("qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "2",
		"-display", "none", "-monitor", "none", "-serial", "file:"+serial, "-snapshot", "-no-reboot",
		"-kernel", vm.Kernel, "-initrd", vm.Initrd, "-append", appendLine,
		"-drive", "file="+vm.Disk+",if=virtio,format=qcow2",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22", port),
		"-device", "virtio-net-pci,netdev=n0")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting qemu: %v", err)
	}
	// Closed once QEMU has exited: both stop and the cleanup wait on it.
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	keyPEM, err := os.ReadFile(vm.Key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	config := &gossh.ClientConfig{
		User:            vm.User,
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), // a throwaway test guest
		Timeout:         5 * time.Second,
	}
	var client *gossh.Client
	for deadline := time.Now().Add(3 * time.Minute); client == nil; {
		client, err = gossh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), config)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			serialLog, _ := os.ReadFile(serial)
			t.Fatalf("no SSH within 3 minutes: %v\nserial console:\n%s", err, serialLog)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("boot to SSH under TCG: %.1f s (-append %q)", time.Since(start).Seconds(), appendLine)
	stop := func() {
		stopped := time.Now()
		if s, err := client.NewSession(); err == nil {
			_ = s.Start("sudo poweroff")
		}
		select {
		case <-exited:
			t.Logf("poweroff: %.1f s", time.Since(stopped).Seconds())
		case <-time.After(60 * time.Second):
			t.Errorf("the guest did not power off within 60 s of sudo poweroff")
		}
		client.Close()
	}
	return client, stop
}

func sshRun(t *testing.T, c *gossh.Client, command string) string {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(command)
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	return string(out)
}
