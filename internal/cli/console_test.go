package cli

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/template"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// On a terminal the console edits lines and keeps a history: what a user
// types there (escape sequences and all) gives the values of the lines as
// edited.
func TestConsoleOnATerminalEditsLinesAndRecallsHistory(t *testing.T) {
	typed := strings.Join([]string{
		"12\x1b[D3\r",           // "12", left, "3": 132
		"upper(\"ab\")\r",       // a plain line
		"\x1b[A\x1b[A\r",        // up twice: 132 again
		"1 +\x7f+ 1\x01 \x05\r", // backspace, Ctrl-A, Ctrl-E
		"nope(\r",               // an error does not end the session
		"2 * 3\r",
	}, "")
	var out bytes.Buffer
	in := terminalInput(strings.NewReader(typed), &out)
	if err := consoleLoop(in, template.Empty(t.Context())); err != nil {
		t.Fatalf("console: %v\n%s", err, out.String())
	}
	var values []string
	for _, line := range strings.Split(out.String(), "\r\n") {
		// Drop the prompts and echoed input: the value lines are those
		// that follow an echoed line.
		if !strings.Contains(line, "> ") && !strings.Contains(line, "\x1b") && strings.TrimSpace(line) != "" {
			values = append(values, strings.TrimSpace(line))
		}
	}
	got := strings.Join(values, "|")
	for _, want := range []string{"132|AB|132|2", "6"} {
		if !strings.Contains(got, want) {
			t.Errorf("values %q do not contain %q; the terminal showed:\n%q", got, want, out.String())
		}
	}
	if !strings.Contains(out.String(), "Error") {
		t.Errorf("the bad expression's error is not shown:\n%q", out.String())
	}
}

// The same on a real terminal: the console runs in a pseudo-terminal made
// by script(1), and the terminal is left as it was found.
func TestConsoleOnARealTerminal(t *testing.T) {
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		testenv.Unavailable(t, "script(1) from util-linux, to run the console in a pseudo-terminal")
	}
	bin := testenv.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, scriptCmd, "-qec", bin+" console", "/dev/null")
	cmd.Stdin = strings.NewReader("12\x1b[D3\r1 + 1\r\x1b[A\r\x04")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("console in a pseudo-terminal: %v\n%q", err, out)
	}
	for _, want := range []string{"\r\n132\r\n", "> 1 + 1\r\n2\r\n> 1 + 1\r\n2\r\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the terminal does not show %q:\n%q", want, out)
		}
	}
}
