package local

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

func TestRunReturnsRealExitStatusAndOutput(t *testing.T) {
	c := &Comm{Dir: t.TempDir()}
	tests := []struct {
		cmd         string
		status      int
		out, errOut string
	}{
		{"echo hi", 0, "hi\n", ""},
		{"echo oops >&2; exit 3", 3, "", "oops\n"},
		{"pwd", 0, c.Dir + "\n", ""},
		{"kill -9 $$", 137, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			var out, errOut bytes.Buffer
			st, err := c.Run(context.Background(), &communicator.Cmd{Command: tt.cmd, Stdout: &out, Stderr: &errOut})
			if err != nil || st != tt.status || out.String() != tt.out || errOut.String() != tt.errOut {
				t.Errorf("status %d err %v out %q err %q", st, err, out.String(), errOut.String())
			}
		})
	}
}

func TestRunCancelKillsTheWholeProcessGroup(t *testing.T) {
	dir := t.TempDir()
	c := &Comm{Dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The child keeps stdout open; without killing the group Run would wait for it.
	_, err := c.Run(ctx, &communicator.Cmd{Command: "(sleep 30; touch late) & sleep 30", Stdout: &bytes.Buffer{}})
	if err == nil {
		t.Fatal("Run succeeded after cancel")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Run took %s after cancel", d)
	}
}

func TestUploadDirAndDownloadDirFollowTrailingSlashRule(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "tree", "skip"), 0o755)
	os.WriteFile(filepath.Join(src, "tree", "x.sh"), []byte("x"), 0o750)
	os.WriteFile(filepath.Join(src, "tree", "skip", "y"), []byte("y"), 0o644)
	c := &Comm{Dir: t.TempDir()}
	ctx := context.Background()
	if err := c.UploadDir(ctx, "with", filepath.Join(src, "tree"), []string{"skip"}); err != nil {
		t.Fatal(err)
	}
	if err := c.UploadDir(ctx, "contents", filepath.Join(src, "tree")+"/", nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(c.Dir, "with", "tree", "x.sh"))
	if err != nil || st.Mode().Perm() != 0o750 {
		t.Errorf("with/tree/x.sh: %v %v (mode kept?)", st, err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "with", "tree", "skip")); err == nil {
		t.Error("excluded folder was copied")
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "contents", "skip", "y")); err != nil {
		t.Errorf("contents/skip/y: %v", err)
	}
	back := t.TempDir()
	if err := c.DownloadDir(ctx, "contents/", back, nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(back, "x.sh")); err != nil || string(b) != "x" {
		t.Errorf("downloaded x.sh: %q %v", b, err)
	}
	var buf bytes.Buffer
	if err := c.Download(ctx, "contents/x.sh", &buf); err != nil || buf.String() != "x" {
		t.Errorf("Download: %q %v", buf.String(), err)
	}
	if err := c.Upload(ctx, "new/dir/file", strings.NewReader("z"), 0); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(c.Dir, "new/dir/file")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("Upload default mode: %v %v", st, err)
	}
}
