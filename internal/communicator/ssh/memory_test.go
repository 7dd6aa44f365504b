package ssh_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
	sshcomm "github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

const (
	largeSize = 2 << 30  // 2 GiB
	rssLimit  = 64 << 20 // what the issue allows
	childEnv  = "IMGBUILD_SSH_LARGE_UPLOAD_CHILD"
)

// zeros is a reader of n zero bytes that knows its size, as a file does.
type zeros struct{ n int64 }

func (z *zeros) Size() int64 { return z.n }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// TestUploadOf2GiBKeepsMemoryFlat uploads 2 GiB over scp and over sftp in
// a child process (this test binary again) and checks the child's peak
// resident memory.
func TestUploadOf2GiBKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 4 GiB in all")
	}
	s := sshd.Start(t)
	c := connect(t, keyConfig(t, s))
	// tmpfs when there is one: the test is about our memory, not the disk.
	dir := strings.TrimSpace(mustRun(t, c, "mktemp -d /dev/shm/imgbuild-ssh-test-XXXXXX 2>/dev/null || mktemp -d /tmp/imgbuild-ssh-test-XXXXXX"))
	t.Cleanup(func() { c.Run(context.Background(), &communicator.Cmd{Command: "rm -rf " + dir}) })
	for _, m := range methods {
		t.Run(m, func(t *testing.T) {
			dst := dir + "/large-" + m
			cmd := exec.Command(os.Args[0], "-test.run=^TestLargeUploadChild$", "-test.v")
			cmd.Env = append(os.Environ(),
				childEnv+"=1",
				"CHILD_SSH_PORT="+strconv.Itoa(s.Port),
				"CHILD_SSH_KEY="+s.KeyFile,
				"CHILD_SSH_METHOD="+m,
				"CHILD_SSH_DST="+dst,
			)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			var hwm int64 = -1
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "peak-rss-bytes "); ok {
					hwm, _ = strconv.ParseInt(v, 10, 64)
				}
			}
			if hwm < 0 {
				t.Fatalf("the child did not report its peak memory:\n%s", out)
			}
			t.Logf("%s: peak RSS %.1f MiB for a 2 GiB upload", m, float64(hwm)/(1<<20))
			if hwm >= rssLimit {
				t.Errorf("peak RSS %d MiB, want under %d MiB", hwm>>20, rssLimit>>20)
			}
			if got := mustRun(t, c, "stat -c %s "+dst+" && rm -f "+dst); got != strconv.Itoa(largeSize)+"\n" {
				t.Errorf("remote size %q, want %d", got, largeSize)
			}
		})
	}
}

// TestLargeUploadChild is the child of TestUploadOf2GiBKeepsMemoryFlat.
func TestLargeUploadChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		return // only as the child process of TestUploadOf2GiBKeepsMemoryFlat
	}
	port, _ := strconv.Atoi(os.Getenv("CHILD_SSH_PORT"))
	cfg := &communicator.Config{
		SSHHost:               "127.0.0.1",
		SSHPort:               port,
		SSHUsername:           sshd.User,
		SSHPrivateKeyFile:     os.Getenv("CHILD_SSH_KEY"),
		SSHFileTransferMethod: os.Getenv("CHILD_SSH_METHOD"),
		SSHTimeout:            20 * time.Second,
	}
	if _, err := cfg.Prepare(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := sshcomm.Connect(ctx, cfg, cfg.SSHHost, cfg.SSHPort, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Upload(ctx, os.Getenv("CHILD_SSH_DST"), &zeros{n: largeSize}, 0o644); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			fmt.Printf("peak-rss-bytes %d\n", kb<<10)
		}
	}
}
