package ssh

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/stream"
)

func TestTrailingSlashRulePicksTheTarget(t *testing.T) {
	for _, tc := range []struct{ dst, src, want string }{
		{"/opt", "files", "/opt/files"},
		{"/opt", "files/", "/opt"},
		{"/opt", "a/b/files", "/opt/files"},
		{"/opt/", "./files", "/opt/files"},
	} {
		if got := remoteDirTarget(tc.dst, tc.src); got != tc.want {
			t.Errorf("remoteDirTarget(%q, %q) = %q, want %q", tc.dst, tc.src, got, tc.want)
		}
		if got := localDirTarget(tc.dst, tc.src); got != filepath.FromSlash(tc.want) {
			t.Errorf("localDirTarget(%q, %q) = %q, want %q", tc.dst, tc.src, got, tc.want)
		}
	}
}

func TestShellQuoteKeepsTheHomeShortcutOutside(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/tmp/x", `'/tmp/x'`},
		{"it's", `'it'\''s'`},
		{"~/dir/a b", `~/'dir/a b'`},
		{"~", `~`},
		{"~/", `~/`},
		{"~user/x", `'~user/x'`},
	} {
		if got := shellQuote(tc.in); got != tc.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestSizedReaderKnowsTheRemainingSizeOrSpoolsToDisk(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("0123456789")
	f.Seek(4, io.SeekStart)
	for _, tc := range []struct {
		name  string
		r     io.Reader
		size  int64
		spool bool
	}{
		{"a file from its offset", f, 6, false},
		{"a strings.Reader", strings.NewReader("abc"), 3, false},
		{"a bytes.Buffer", bytes.NewBufferString("abcd"), 4, false},
		{"a limited reader", io.LimitReader(strings.NewReader("abcdef"), 2), 2, false},
		{"a plain reader is spooled", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cde")), 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, size, cleanup, err := stream.Sized(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup()
			if size != tc.size {
				t.Errorf("size %d, want %d", size, tc.size)
			}
			if spooled := r != tc.r; spooled != tc.spool {
				t.Errorf("spooled = %v, want %v", spooled, tc.spool)
			}
			if b, _ := io.ReadAll(r); int64(len(b)) != tc.size {
				t.Errorf("read %d bytes, want %d", len(b), tc.size)
			}
		})
	}
}

func TestExcludeMatchesRelativePaths(t *testing.T) {
	for _, tc := range []struct {
		rel  string
		pats []string
		want bool
	}{
		{"a.log", []string{"*.log"}, true},
		{"sub/a.log", []string{"*.log"}, false},
		{"sub/a.log", []string{"sub/*.log"}, true},
		{"cache", []string{"cache"}, true},
		{"a.txt", nil, false},
	} {
		if got := excluded(tc.rel, tc.pats); got != tc.want {
			t.Errorf("excluded(%q, %q) = %v, want %v", tc.rel, tc.pats, got, tc.want)
		}
	}
}

func TestModeConversionKeepsSpecialBits(t *testing.T) {
	for _, m := range []fs.FileMode{0o644, 0o755 | fs.ModeSetuid, 0o2775&0o777 | fs.ModeSetgid, 0o777 | fs.ModeSticky} {
		if got := communicator.GoMode(communicator.UnixMode(m)); got != m {
			t.Errorf("communicator.GoMode(communicator.UnixMode(%v)) = %v", m, got)
		}
	}
	if communicator.UnixMode(0o755|fs.ModeSetuid) != 0o4755 {
		t.Errorf("communicator.UnixMode(setuid 755) = %o", communicator.UnixMode(0o755|fs.ModeSetuid))
	}
}
