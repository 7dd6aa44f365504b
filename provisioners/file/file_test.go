package file

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/communicator/local"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func run(t *testing.T, machine string, cfg Config) error {
	t.Helper()
	p := &Provisioner{cfg: cfg}
	if _, err := p.Prepare(); err != nil {
		return err
	}
	var out bytes.Buffer
	return p.Provision(context.Background(), &plugin.ProvisionEnv{
		UI:   ui.New(ui.Options{Out: &out}).Build("test.file"),
		Comm: &local.Comm{Dir: machine},
	})
}

func write(t *testing.T, p, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("expected file: %v", err)
	}
	return string(b)
}

func TestFileUploadFollowsPackersTrailingSlashRules(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "one.txt"), "one")
	write(t, filepath.Join(src, "tree", "a.txt"), "a")
	write(t, filepath.Join(src, "tree", "sub", "b.txt"), "b")
	tests := []struct {
		name  string
		cfg   Config
		check map[string]string // machine path -> content
	}{
		{"file to a file name", Config{Source: filepath.Join(src, "one.txt"), Destination: "/etc/renamed"}, map[string]string{"etc/renamed": "one"}},
		{"file into a folder", Config{Source: filepath.Join(src, "one.txt"), Destination: "/opt/"}, map[string]string{"opt/one.txt": "one"}},
		{"folder without slash keeps its name", Config{Source: filepath.Join(src, "tree"), Destination: "/srv"}, map[string]string{"srv/tree/a.txt": "a", "srv/tree/sub/b.txt": "b"}},
		{"folder with slash copies its contents", Config{Source: filepath.Join(src, "tree") + "/", Destination: "/srv"}, map[string]string{"srv/a.txt": "a", "srv/sub/b.txt": "b"}},
		{"several sources", Config{Sources: []string{filepath.Join(src, "one.txt"), filepath.Join(src, "tree", "a.txt")}, Destination: "/d/"}, map[string]string{"d/one.txt": "one", "d/a.txt": "a"}},
		{"content", Config{Content: "hello\n", Destination: "/etc/motd"}, map[string]string{"etc/motd": "hello\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			machine := t.TempDir()
			// The machine's "/" is its folder: rebase absolute destinations.
			tt.cfg.Destination = strings.TrimPrefix(tt.cfg.Destination, "/")
			if err := run(t, machine, tt.cfg); err != nil {
				t.Fatal(err)
			}
			for p, want := range tt.check {
				if got := read(t, filepath.Join(machine, p)); got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
		})
	}
}

func TestFileDownloadFileAndFolder(t *testing.T) {
	machine := t.TempDir()
	write(t, filepath.Join(machine, "var", "log", "app.log"), "log")
	write(t, filepath.Join(machine, "var", "log", "more", "x"), "x")
	local := t.TempDir()
	if err := run(t, machine, Config{Source: "var/log/app.log", Destination: local + "/", Direction: "download"}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(local, "app.log")); got != "log" {
		t.Errorf("downloaded %q", got)
	}
	if err := run(t, machine, Config{Source: "var/log/", Destination: filepath.Join(local, "logs"), Direction: "download"}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(local, "logs", "more", "x")); got != "x" {
		t.Errorf("downloaded folder file %q", got)
	}
	if left, _ := filepath.Glob(filepath.Join(local, ".*part*")); len(left) > 0 {
		t.Errorf("partial files left: %v", left)
	}
}

func TestFilePrepareRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing source", Config{Source: "/nonexistent/x", Destination: "/x"}, "generated = true"},
		{"generated source is checked later", Config{Source: "/nonexistent/x", Destination: "/x", Generated: true}, ""},
		{"several sources need a folder", Config{Sources: []string{"/etc/hostname", "/etc/hosts"}, Destination: "/x"}, "must be a folder"},
		{"source and content", Config{Source: "/etc/hostname", Content: "x", Destination: "/x"}, "exactly one"},
		{"bad direction", Config{Source: "/etc/hostname", Destination: "/x", Direction: "sideways"}, "upload or download"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := (&Provisioner{cfg: tt.cfg}).Prepare()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// A downloaded file gets a plain file's mode (0644), not the 0600 of the
// temporary file it was written to, and a file it replaces keeps its own
// (issue 14, 9).
func TestDownloadedFileGetsAPlainModeOrKeepsTheReplacedFilesMode(t *testing.T) {
	machine := t.TempDir()
	write(t, filepath.Join(machine, "etc", "app.conf"), "conf")
	local := t.TempDir()
	dst := filepath.Join(local, "app.conf")
	if err := run(t, machine, Config{Source: "etc/app.conf", Destination: dst, Direction: "download"}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dst); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("new download: mode %v (%v), want 0644", st.Mode().Perm(), err)
	}
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := run(t, machine, Config{Source: "etc/app.conf", Destination: dst, Direction: "download"}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dst); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("replacing download: mode %v (%v), want the replaced file's 0755", st.Mode().Perm(), err)
	}
}
