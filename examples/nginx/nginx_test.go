// Package nginx holds the end-to-end tests of the nginx example: each of
// its sources builds, and the image it makes serves the page.
package nginx

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func unique() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// example is this folder, the template.
func example(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// imgbuild runs the command line in dir with extra environment.
func imgbuild(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := testenv.Command(ctx, t, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("imgbuild %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// getPage fetches http://127.0.0.1:port/ until it answers or time runs
// out (a server that is still starting).
func getPage(t *testing.T, port string, within time.Duration) string {
	t.Helper()
	var last error
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		resp, err := http.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			last = err
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			return string(body)
		}
		last = fmt.Errorf("status %s, %v", resp.Status, err)
	}
	t.Fatalf("nginx did not serve the page within %s: %v", within, last)
	return ""
}

func wantPage(t *testing.T, page, title, build string) {
	t.Helper()
	if !strings.Contains(page, "<h1>"+title+"</h1>") || !strings.Contains(page, "Built by imgbuild: "+build) {
		t.Errorf("the page does not name %q and %s:\n%s", title, build, page)
	}
}

// The docker source: a container of the image serves the page.
func TestDockerSourceMakesAnImageWhoseContainerServesThePage(t *testing.T) {
	testenv.DebianImage(t)
	repo := "imgbuild-nginx-test-" + unique()
	title := "Docker " + unique()
	imgbuild(t, t.TempDir(), nil, "build", "-only", "docker.*", "-var", "docker_repository="+repo, "-var", "page_title="+title, example(t))
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", repo+":latest").Run() })
	out, err := exec.Command("docker", "run", "-d", "-p", "127.0.0.1::80", repo+":latest").Output()
	if err != nil {
		t.Fatalf("docker run: %v", err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	mapped, err := exec.Command("docker", "port", id, "80/tcp").Output()
	if err != nil {
		t.Fatalf("docker port: %v", err)
	}
	port := strings.TrimSpace(strings.Split(string(mapped), "\n")[0])
	port = port[strings.LastIndexByte(port, ':')+1:]
	wantPage(t, getPage(t, port, 30*time.Second), title, "docker.nginx")
}

// The qemu source, as the README's local loop uses it: the image boots in
// QEMU and serves the page (the test a user would write); a rebuild with
// -cache after a change to the page runs only the page's step, resumed
// from the VM state kept with the first step instead of booting.
func TestQemuSourceMakesAVMImageThatBootsAndServesThePage(t *testing.T) {
	vm := testenv.DebianVM(t)
	work := t.TempDir()
	cacheDir, err := os.MkdirTemp("", "imgbuild-nginx-cache-")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"IMGBUILD_CACHE_DIR=" + cacheDir}
	t.Cleanup(func() {
		imgbuild(t, work, env, "cache", "prune", "--all")
		os.RemoveAll(cacheDir)
	})
	vars := []string{"-var", "debian_vm=" + vm.Dir, "-var", "debian_vm_cmdline=" + vm.SystemdAppend}
	build := func(title string) string {
		args := append([]string{"build", "-cache", "-force", "-only", "qemu.*", "-var", "page_title=" + title}, vars...)
		return imgbuild(t, work, env, append(args, example(t))...)
	}
	build("First page")
	image := filepath.Join(work, "output-nginx-qemu", "nginx.qcow2")
	ports := testenv.BootQEMU(t, testenv.QEMUBoot{Disk: image, Kernel: vm.Kernel, Initrd: vm.Initrd,
		Append: vm.SystemdAppend, Forward: []int{22, 80}})
	wantPage(t, getPage(t, fmt.Sprint(ports[80]), time.Minute), "First page", "qemu.nginx")

	out := build("Second page")
	if !strings.Contains(out, "Provisioner 1 (shell) restored from cache") {
		t.Errorf("the rebuild did not take the nginx install from the cache:\n%s", out)
	}
	if !strings.Contains(out, "Resumed the VM from the state saved") {
		t.Errorf("the rebuild booted the VM instead of resuming it:\n%s", out)
	}
	if strings.Contains(out, "apt-get") || strings.Contains(out, "nginx version") {
		t.Errorf("the rebuild ran the install step again:\n%s", out)
	}
	ports = testenv.BootQEMU(t, testenv.QEMUBoot{Disk: image, Kernel: vm.Kernel, Initrd: vm.Initrd,
		Append: vm.SystemdAppend, Forward: []int{22, 80}})
	wantPage(t, getPage(t, fmt.Sprint(ports[80]), time.Minute), "Second page", "qemu.nginx")
}

// The amazon-ebs source against moto: moto's instances have no network,
// so a Debian VM stands in for the instance (the provisioners install
// nginx on it); the AMI carries the template's tags.
func TestAmazonEBSSourceMakesAnAMIWithTheTagsAgainstMoto(t *testing.T) {
	testenv.UseMoto(t)
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the resource ledger
	vm := testenv.DebianVM(t)
	ports := testenv.BootQEMU(t, testenv.QEMUBoot{Disk: vm.Disk, Kernel: vm.Kernel, Initrd: vm.Initrd,
		Append: vm.FastAppend, Forward: []int{22}})
	title := "AMI " + unique()
	out := imgbuild(t, t.TempDir(), nil, "build", "-only", "amazon-ebs.*",
		"-var", "page_title="+title,
		"-var", "ubuntu_ami_name=ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*",
		"-var", "ssh_host=127.0.0.1", "-var", fmt.Sprintf("ssh_port=%d", ports[22]),
		"-var", "ssh_username="+vm.User, "-var", "ssh_password="+vm.Password,
		example(t))
	if !strings.Contains(out, "<h1>"+title+"</h1>") {
		t.Errorf("the page step did not run on the stand-in instance:\n%s", out)
	}
	m := regexp.MustCompile(`AMIs were created:\s*\n\s*us-east-1: (ami-[0-9a-f]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the build names no AMI:\n%s", out)
	}
	var ac awsclient.AccessConfig
	cfg, err := ac.Load(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	client := ac.EC2(cfg)
	images, err := client.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{m[1]}})
	if err != nil || len(images.Images) != 1 {
		t.Fatalf("describing %s: %v", m[1], err)
	}
	img := images.Images[0]
	t.Cleanup(func() {
		_, _ = client.DeregisterImage(context.Background(), &ec2.DeregisterImageInput{ImageId: img.ImageId})
	})
	tags := map[string]string{}
	for _, tag := range img.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if tags["Name"] != "imgbuild-nginx" || tags["Page"] != title || !strings.HasPrefix(tags["SourceAMI"], "ami-") {
		t.Errorf("the AMI's tags are %v", tags)
	}
	if !strings.HasPrefix(aws.ToString(img.Name), "imgbuild-nginx-") {
		t.Errorf("the AMI is named %q", aws.ToString(img.Name))
	}
}
