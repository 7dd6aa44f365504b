package ui

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/secret"
)

var fixed = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestLinesArePrefixedLikePackers(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		do   func(u *BuildUI)
		want string
	}{
		{"say", Options{}, func(u *BuildUI) { u.Say("Starting") }, "==> docker.a: Starting\n"},
		{"message", Options{}, func(u *BuildUI) { u.Message("detail") }, "    docker.a: detail\n"},
		{"multi-line message keeps the prefix on every line", Options{}, func(u *BuildUI) { u.Message("one\ntwo") }, "    docker.a: one\n    docker.a: two\n"},
		{"timestamp", Options{Timestamp: true}, func(u *BuildUI) { u.Say("x") }, "2026-01-02T03:04:05Z: ==> docker.a: x\n"},
		{"colour say is bold", Options{Color: true}, func(u *BuildUI) { u.Say("x") }, "\x1b[1;32m==> docker.a: x\x1b[0m\n"},
		{"colour error is red", Options{Color: true}, func(u *BuildUI) { u.Error("bad") }, "\x1b[1;31m==> docker.a: bad\x1b[0m\n"},
		{"machine readable escapes commas and newlines", Options{MachineReadable: true, Color: true}, func(u *BuildUI) { u.Machine("artifact", "0", "id", "a,b\nc") }, "1767323045,docker.a,artifact,0,id,a%!(PACKER_COMMA)b\\nc\n"},
		{"machine readable ui row", Options{MachineReadable: true}, func(u *BuildUI) { u.Say("hi, there") }, "1767323045,,ui,say,==> docker.a: hi%!(PACKER_COMMA) there\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.opts.Out = &out
			tt.opts.Now = func() time.Time { return fixed }
			tt.do(New(tt.opts).Build("docker.a"))
			if out.String() != tt.want {
				t.Errorf("got %q, want %q", out.String(), tt.want)
			}
		})
	}
}

func TestEachBuildGetsItsOwnColour(t *testing.T) {
	var out bytes.Buffer
	r := New(Options{Out: &out, Color: true})
	r.Build("a").Say("x")
	r.Build("b").Say("x")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || lines[0][:7] == lines[1][:7] {
		t.Errorf("builds share a colour: %q", lines)
	}
}

func TestStdoutWriterSplitsLinesAndFlushesTheRestOnClose(t *testing.T) {
	var out bytes.Buffer
	u := New(Options{Out: &out}).Build("b")
	w := u.Stdout()
	w.Write([]byte("par"))
	w.Write([]byte("tial\r\nsecond\nno newline"))
	if strings.Contains(out.String(), "no newline") {
		t.Error("a partial line was printed before Close")
	}
	w.Close()
	want := "    b: partial\n    b: second\n    b: no newline\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestSecretsAreMaskedInLinesRowsAndLog(t *testing.T) {
	secret.Add("hunter2-password", `hunter2"quoted`)
	t.Cleanup(secret.Reset)
	logPath := filepath.Join(t.TempDir(), "log")
	closeLog, err := SetupLog(func(k string) string {
		if k == "IMGBUILD_LOG_PATH" {
			return logPath
		}
		return ""
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { SetupLog(func(string) string { return "" }, nil) })
	var out bytes.Buffer
	r := New(Options{Out: &out})
	u := r.Build("b")
	u.Say("pw is hunter2-password")
	w := u.Stderr()
	w.Write([]byte("hunter2-"))
	w.Write([]byte("password split across writes\n"))
	w.Close()
	// slog escapes quotes: a secret with one must be masked before that.
	Logger().Debug("command", "cmd", `PW='hunter2"quoted' run`)
	mr := New(Options{Out: &out, MachineReadable: true})
	mr.Machine("b", "artifact", "hunter2-password")
	closeLog()
	logData, _ := os.ReadFile(logPath)
	for what, s := range map[string]string{"output": out.String(), "log": string(logData)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret in %s:\n%s", what, s)
		}
		if !strings.Contains(s, "<sensitive>") {
			t.Errorf("%s lacks the mask:\n%s", what, s)
		}
	}
}

func TestAskReadsOneLinePerQuestionAndHonoursCancel(t *testing.T) {
	var out bytes.Buffer
	r := New(Options{Out: &out, In: strings.NewReader("first\nsecond\n")})
	u := r.Build("b")
	for _, want := range []string{"first", "second"} {
		got, err := u.Ask(context.Background(), "?")
		if err != nil || got != want {
			t.Fatalf("Ask = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := u.Ask(context.Background(), "?"); err == nil {
		t.Error("Ask after end of input should fail")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	blocked := New(Options{Out: &out, In: blockingReader{}}).Build("c")
	if _, err := blocked.Ask(ctx, "?"); err == nil {
		t.Error("Ask ignored cancellation")
	}
}

type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }

func TestProgressIsPlainReaderWithoutTerminal(t *testing.T) {
	u := New(Options{Out: &bytes.Buffer{}}).Build("b")
	r := nopRC{strings.NewReader("x")}
	if got := u.TrackProgress("f", 1, r); got != (nopRC{r.Reader}) {
		t.Error("a progress bar was added without a terminal")
	}
	var out bytes.Buffer
	tu := New(Options{Out: &out, Terminal: true}).Build("b")
	pr := tu.TrackProgress("f", 5, nopRC{strings.NewReader("hello")})
	b := make([]byte, 10)
	n, _ := pr.Read(b)
	pr.Close()
	if n != 5 || string(b[:n]) != "hello" {
		t.Errorf("progress reader altered data: %q", b[:n])
	}
}

type nopRC struct{ *strings.Reader }

func (nopRC) Close() error { return nil }

// Packer's PACKER_LOG and PACKER_LOG_PATH work as aliases, with Packer's
// rule that the path counts only when PACKER_LOG is on (issue 14, 9).
func TestPackerLogVariablesAreHonoured(t *testing.T) {
	t.Cleanup(func() { SetupLog(func(string) string { return "" }, nil) })
	for _, c := range []struct {
		env              map[string]string
		wantFile, stderr bool
	}{
		{map[string]string{"PACKER_LOG": "1", "PACKER_LOG_PATH": "FILE"}, true, false},
		{map[string]string{"PACKER_LOG_PATH": "FILE"}, false, false},
		{map[string]string{"PACKER_LOG": "1"}, false, true},
		{map[string]string{"PACKER_LOG": "0"}, false, false},
	} {
		logPath := filepath.Join(t.TempDir(), "log")
		var stderr bytes.Buffer
		closeLog, err := SetupLog(func(k string) string {
			if v := c.env[k]; v == "FILE" {
				return logPath
			} else {
				return v
			}
		}, &stderr)
		if err != nil {
			t.Fatal(err)
		}
		Logger().Debug("a log line")
		closeLog()
		data, _ := os.ReadFile(logPath)
		if got := strings.Contains(string(data), "a log line"); got != c.wantFile {
			t.Errorf("%v: log file written = %v, want %v", c.env, got, c.wantFile)
		}
		if got := strings.Contains(stderr.String(), "a log line"); got != c.stderr {
			t.Errorf("%v: stderr log = %v, want %v", c.env, got, c.stderr)
		}
	}
}
