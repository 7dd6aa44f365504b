package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// withContainer runs check against a live build container (discard mode).
func withContainer(t *testing.T, set func(c *Config), check func(ctx context.Context, comm communicator.Communicator)) {
	t.Helper()
	needEngine(t)
	b := prepared(t, func(c *Config) {
		c.Discard = true
		if set != nil {
			set(c)
		}
	})
	_, _, err := build(context.Background(), t, b, newTestUI(t), false, func(ctx context.Context, comm communicator.Communicator) error {
		check(ctx, comm)
		return nil
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
}

func TestRunGivesExitCodesSeparateStreamsAndStdin(t *testing.T) {
	withContainer(t, nil, func(ctx context.Context, comm communicator.Communicator) {
		var stdout, stderr bytes.Buffer
		code, err := comm.Run(ctx, &communicator.Cmd{
			Command: "cat; echo oops >&2; exit 3",
			Stdin:   strings.NewReader("from stdin\n"),
			Stdout:  &stdout, Stderr: &stderr,
		})
		if err != nil || code != 3 {
			t.Errorf("exit = %d, %v; want 3, nil", code, err)
		}
		if stdout.String() != "from stdin\n" || stderr.String() != "oops\n" {
			t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		if out, code := run(ctx, t, comm, "echo $0; id -u"); code != 0 || out != "/bin/sh\n0\n" {
			t.Errorf("shell and user = %q (exit %d)", out, code)
		}
	})
}

func TestUploadAndDownloadStreamLargeFilesIntact(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, 24<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := h.Sum(nil)

	withContainer(t, nil, func(ctx context.Context, comm communicator.Communicator) {
		in, _ := os.Open(src)
		defer in.Close()
		if err := comm.Upload(ctx, "/data/deep/big.bin", in, 0o755); err != nil {
			t.Fatalf("Upload: %v", err)
		}
		if out, _ := run(ctx, t, comm, "stat -c '%s %a' /data/deep/big.bin"); out != "25165824 755\n" {
			t.Errorf("size and mode in the container = %q", out)
		}
		// A stream of unknown size (a pipe) goes through a spool file.
		pr, pw := io.Pipe()
		go func() {
			in2, _ := os.Open(src)
			_, err := io.Copy(pw, in2)
			in2.Close()
			pw.CloseWithError(err)
		}()
		if err := comm.Upload(ctx, "piped.bin", pr, 0); err != nil {
			t.Fatalf("Upload from a pipe: %v", err)
		}
		for _, p := range []string{"/data/deep/big.bin", "/piped.bin"} {
			got := sha256.New()
			if err := comm.Download(ctx, p, got); err != nil {
				t.Fatalf("Download %s: %v", p, err)
			}
			if !bytes.Equal(got.Sum(nil), want) {
				t.Errorf("%s came back different", p)
			}
		}
		if out, _ := run(ctx, t, comm, "stat -c %a /piped.bin"); out != "644\n" {
			t.Errorf("mode 0 gave %q, want 644", out)
		}
	})
}

func TestDirectoriesFollowPackersTrailingSlashRuleAndExcludes(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	for name, body := range map[string]string{"a.txt": "A", "sub/b.txt": "B", "skip.log": "L", "sub/deeper/c.txt": "C"} {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o640)
	}
	os.Symlink("a.txt", filepath.Join(src, "link"))
	local := t.TempDir()

	withContainer(t, nil, func(ctx context.Context, comm communicator.Communicator) {
		if err := comm.UploadDir(ctx, "/up", src, []string{"*.log"}); err != nil {
			t.Fatalf("UploadDir: %v", err)
		}
		if err := comm.UploadDir(ctx, "/up2", src+"/", nil); err != nil {
			t.Fatalf("UploadDir with trailing slash: %v", err)
		}
		out, _ := run(ctx, t, comm, "cd /up && find . | sort; readlink src/link; stat -c %a src/a.txt; ls /up2 | sort | tr '\\n' ' '")
		want := ".\n./src\n./src/a.txt\n./src/link\n./src/sub\n./src/sub/b.txt\n./src/sub/deeper\n./src/sub/deeper/c.txt\na.txt\n640\na.txt link skip.log sub "
		if out != want {
			t.Errorf("uploaded tree:\n%s\nwant:\n%s", out, want)
		}

		if err := comm.DownloadDir(ctx, "/up/src", filepath.Join(local, "whole"), []string{"sub/deeper"}); err != nil {
			t.Fatalf("DownloadDir: %v", err)
		}
		if err := comm.DownloadDir(ctx, "/up/src/", filepath.Join(local, "contents"), nil); err != nil {
			t.Fatalf("DownloadDir with trailing slash: %v", err)
		}
	})
	for _, c := range []struct{ path, want string }{
		{"whole/src/a.txt", "A"},
		{"whole/src/sub/b.txt", "B"},
		{"contents/a.txt", "A"},
		{"contents/sub/deeper/c.txt", "C"},
	} {
		b, err := os.ReadFile(filepath.Join(local, c.path))
		if err != nil || string(b) != c.want {
			t.Errorf("%s = %q, %v; want %q", c.path, b, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(local, "whole/src/sub/deeper")); err == nil {
		t.Error("the excluded folder was downloaded")
	}
	if l, err := os.Readlink(filepath.Join(local, "contents/link")); err != nil || l != "a.txt" {
		t.Errorf("symlink came back as %q, %v", l, err)
	}
}

func TestTransferErrorsSayWhatIsWrong(t *testing.T) {
	withContainer(t, nil, func(ctx context.Context, comm communicator.Communicator) {
		for _, c := range []struct {
			name string
			err  error
			want string
		}{
			{"download a folder as a file", comm.Download(ctx, "/etc", io.Discard), `end the source with "/"`},
			{"download a missing file", comm.Download(ctx, "/nope", io.Discard), "no such file"},
			{"download a file as a folder", comm.DownloadDir(ctx, "/etc/passwd", t.TempDir(), nil), "not a directory"},
			{"upload over a folder", comm.Upload(ctx, "/etc", strings.NewReader("x"), 0), "/etc"},
		} {
			if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
				t.Errorf("%s: err = %v, want it to mention %q", c.name, c.err, c.want)
			}
		}
		if out, _ := run(ctx, t, comm, "test -d /etc && test -f /etc/passwd && echo intact"); out != "intact\n" {
			t.Errorf("a failed upload damaged /etc: %q", out)
		}
	})
}

func TestExecUserRunsCommandsAndOwnsUploads(t *testing.T) {
	src := filepath.Join(t.TempDir(), "tree")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "f"), []byte("x"), 0o644)
	withContainer(t, func(c *Config) { c.ExecUser = "nobody" }, func(ctx context.Context, comm communicator.Communicator) {
		if err := comm.Upload(ctx, "/tmp/owned", strings.NewReader("x"), 0); err != nil {
			t.Fatal(err)
		}
		if err := comm.UploadDir(ctx, "/tmp", src, nil); err != nil {
			t.Fatal(err)
		}
		out, _ := run(ctx, t, comm, "id -u; stat -c %u /tmp/owned /tmp/tree /tmp/tree/sub/f; stat -c %a /tmp")
		if out != "65534\n65534\n65534\n65534\n1777\n" {
			t.Errorf("user and owners = %q, want nobody (65534) everywhere and /tmp untouched", out)
		}
	})
}

func TestTransfersGoThroughSymlinksInTheContainer(t *testing.T) {
	withContainer(t, nil, func(ctx context.Context, comm communicator.Communicator) {
		run(ctx, t, comm, "mkdir -p /opt/real && ln -s /opt/real /linkdir && ln -s real /opt/rel")
		if err := comm.Upload(ctx, "/linkdir/abs", strings.NewReader("1"), 0); err != nil {
			t.Fatal(err)
		}
		if err := comm.Upload(ctx, "/opt/rel/rel", strings.NewReader("2"), 0); err != nil {
			t.Fatal(err)
		}
		if out, _ := run(ctx, t, comm, "cat /opt/real/abs /opt/real/rel; readlink /linkdir; ln -s /opt/real/abs /filelink"); out != "12/opt/real\n" {
			t.Errorf("got %q: the uploads did not land in the symlinks' target, or replaced a symlink", out)
		}
		for _, p := range []string{"/linkdir/abs", "/filelink"} {
			var b strings.Builder
			if err := comm.Download(ctx, p, &b); err != nil || b.String() != "1" {
				t.Errorf("Download(%s) = %q, %v; want the target's content", p, b.String(), err)
			}
		}
	})
}

func TestContainerOptionsReachTheBuildContainer(t *testing.T) {
	host := t.TempDir()
	withContainer(t, func(c *Config) {
		c.Volumes = map[string]string{host: "/mnt/host"}
		c.TmpFs = []string{"/scratch:size=1m"}
		c.CapDrop = []string{"CHOWN"}
		c.RunCommand = []string{"-d", "-i", "-t", "-e", "FROM_RUN=yes", "--entrypoint=/bin/sh", "--", "{{.Image}}"}
	}, func(ctx context.Context, comm communicator.Communicator) {
		out, _ := run(ctx, t, comm, "echo from the container > /mnt/host/out.txt; grep -c ' /scratch tmpfs' /proc/mounts; echo $FROM_RUN; chown nobody /tmp 2>/dev/null || echo chown refused")
		if out != "1\nyes\nchown refused\n" {
			t.Errorf("tmpfs, run_command env, cap_drop = %q", out)
		}
	})
	if b, err := os.ReadFile(filepath.Join(host, "out.txt")); err != nil || string(b) != "from the container\n" {
		t.Errorf("volume: %q, %v", b, err)
	}
}

func TestRunReportsADisconnectionWhenTheContainerStopsUnderTheCommand(t *testing.T) {
	cli := needEngine(t)
	withContainer(t, nil, func(ctx context.Context, comm communicator.Communicator) {
		// A command killed by a signal in a container that goes on
		// running is a plain failure, with its status.
		if code, err := comm.Run(ctx, &communicator.Cmd{Command: "kill -9 $$"}); code != 137 || err != nil {
			t.Errorf("a command that killed itself: Run = %d, %v; want 137, nil", code, err)
		}
		id := comm.(*checkpointComm).st.containerID
		go func() {
			time.Sleep(300 * time.Millisecond)
			_ = cli.ContainerKill(context.Background(), id, "KILL")
		}()
		code, err := comm.Run(ctx, &communicator.Cmd{Command: "sleep 30"})
		if !errors.Is(err, communicator.ErrDisconnected) {
			t.Errorf("Run = %d, %v; want communicator.ErrDisconnected", code, err)
		}
	})
}
