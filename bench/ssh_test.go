package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
	sshcomm "github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/testenv"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

const sshBenchSize = 1 << 30 // 1 GiB

// BenchmarkSSHUpload uploads a 1 GiB file with the SSH communicator and
// with OpenSSH's sftp client to the same sshd, in the same run, and
// reports our throughput as a ratio to OpenSSH's (x-sftp; target at least
// 0.9). The scp transfer method is measured too (x-sftp-scp).
func BenchmarkSSHUpload(b *testing.B) {
	sftpPath := testenv.NeedCommand(b, "sftp")
	s := sshd.Start(b)
	src := filepath.Join(b.TempDir(), "payload")
	if err := writePayload(src, sshBenchSize); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	comms := map[string]*sshcomm.Comm{}
	for _, m := range []string{"sftp", "scp"} {
		cfg := &communicator.Config{
			SSHHost: s.Host, SSHPort: s.Port, SSHUsername: sshd.User,
			SSHPrivateKeyFile: s.KeyFile, SSHFileTransferMethod: m,
		}
		if _, err := cfg.Prepare(); err != nil {
			b.Fatal(err)
		}
		c, err := sshcomm.Connect(ctx, cfg, s.Host, s.Port, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		comms[m] = c
	}
	remote := "/tmp/imgbuild-bench-" + strconv.Itoa(os.Getpid())
	removeRemote := func() {
		comms["sftp"].Run(ctx, &communicator.Cmd{Command: "rm -f " + remote})
	}
	defer removeRemote()

	var ours, oursSCP, openssh time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ours += timeUpload(b, comms["sftp"], src, remote)
		removeRemote()
		oursSCP += timeUpload(b, comms["scp"], src, remote)
		removeRemote()

		batch := filepath.Join(b.TempDir(), "batch")
		if err := os.WriteFile(batch, []byte(fmt.Sprintf("put %s %s\n", src, remote)), 0o644); err != nil {
			b.Fatal(err)
		}
		args := append(s.ClientArgs(), "-q", "-b", batch, "-P", strconv.Itoa(s.Port), sshd.User+"@"+s.Host)
		start := time.Now()
		if out, err := exec.Command(sftpPath, args...).CombinedOutput(); err != nil {
			b.Fatalf("OpenSSH sftp: %v: %s", err, out)
		}
		openssh += time.Since(start)
		removeRemote()
	}
	b.StopTimer()
	mib := float64(sshBenchSize) / (1 << 20) * float64(b.N)
	b.ReportMetric(mib/ours.Seconds(), "MiB/s-sftp")
	b.ReportMetric(mib/oursSCP.Seconds(), "MiB/s-scp")
	b.ReportMetric(mib/openssh.Seconds(), "MiB/s-openssh")
	b.ReportMetric(openssh.Seconds()/ours.Seconds(), "x-sftp")
	b.ReportMetric(openssh.Seconds()/oursSCP.Seconds(), "x-sftp-scp")
}

func timeUpload(b *testing.B, c *sshcomm.Comm, src, dst string) time.Duration {
	f, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	if err := c.Upload(context.Background(), dst, f, 0o644); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// writePayload writes size bytes of varied (not all-zero) data, so that no
// layer can shortcut it.
func writePayload(name string, size int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	block := []byte(strings.Repeat("imgbuild ssh benchmark payload 0123456789abcdef\n", 1<<14))
	for written := int64(0); written < size; {
		n := min(int64(len(block)), size-written)
		if _, err := f.Write(block[:n]); err != nil {
			f.Close()
			return err
		}
		written += n
		block[written%int64(len(block))]++
	}
	return f.Close()
}
