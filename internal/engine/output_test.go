package engine

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/secret"
	"github.com/imgbuild/imgbuild/internal/template"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func TestMachineReadableRowsAreEscapedAndListArtifacts(t *testing.T) {
	root := t.TempDir()
	var out syncBuffer
	u := ui.New(ui.Options{Out: &out, MachineReadable: true, Color: true})
	r := NewRunner(Options{UI: u})
	res := r.Run(context.Background(), []*template.BuildPlan{dirPlan(root, "mr", shellPlan("echo 'a,b'"))})
	PrintSummary(u, res, time.Second)
	row := regexp.MustCompile(`^\d+,[^,]*,[a-z-]+(,[^,]*)*$`)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, l := range lines {
		if !row.MatchString(l) {
			t.Errorf("not a machine-readable row: %q", l)
		}
		if strings.Contains(l, "\x1b[") {
			t.Errorf("colour codes in machine-readable output: %q", l)
		}
	}
	s := out.String()
	for _, want := range []string{
		",,ui,message,    test.mr: a%!(PACKER_COMMA)b\n",
		",test.mr,artifact-count,1\n",
		",test.mr,artifact,0,builder-id,imgbuild.test\n",
		",test.mr,artifact,0,id,image-test.mr\n",
		",test.mr,artifact,0,file,0,/out/image-test.mr\n",
		",test.mr,artifact,0,end\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestSensitiveValuesNeverReachOutputOrLog(t *testing.T) {
	const pw = "s3cr3t-Pa55word"
	secret.Add(pw)
	t.Cleanup(secret.Reset)
	logPath := filepath.Join(t.TempDir(), "imgbuild.log")
	closeLog, err := ui.SetupLog(func(k string) string {
		if k == "IMGBUILD_LOG_PATH" {
			return logPath
		}
		return ""
	}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = ui.SetupLog(func(string) string { return "" }, nil) }()

	root := t.TempDir()
	var out syncBuffer
	plan := dirPlan(root, "s", shellPlan("echo the password is "+pw, "echo "+pw+" >&2", "exit 1"))
	u := ui.New(ui.Options{Out: &out})
	res := NewRunner(Options{UI: u}).Run(context.Background(), []*template.BuildPlan{plan})
	PrintSummary(u, res, time.Second)
	closeLog()
	logData, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "the password is <sensitive>") {
		t.Errorf("masked line missing from output:\n%s", out.String())
	}
	if !strings.Contains(string(logData), "<sensitive>") {
		t.Errorf("the log did not record the masked output:\n%s", logData)
	}
	for what, s := range map[string]string{"output": out.String(), "log": string(logData)} {
		if strings.Contains(s, pw) {
			t.Errorf("the secret appears in the %s:\n%s", what, s)
		}
	}
}

func TestFormatDurationReadsLikePackers(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0 milliseconds"},
		{time.Second, "1 second"},
		{2*time.Minute + 5*time.Second + 103*time.Millisecond, "2 minutes 5 seconds 103 milliseconds"},
		{time.Hour + time.Millisecond, "1 hour 1 millisecond"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
