// Package ui prints what builds say, the way Packer does: "==> name: msg"
// headlines and "    name: msg" details, coloured per build, optionally
// timestamped, or as -machine-readable rows. Every line passes through
// secret.Mask before it is written or logged.
package ui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
)

// Options configure the terminal output.
type Options struct {
	Out             io.Writer // build output (stdout)
	Color           bool      // ANSI colours (-color=false turns them off)
	Timestamp       bool      // -timestamp-ui: RFC 3339 time before each line
	MachineReadable bool      // -machine-readable: timestamp,target,type,data rows
	// Terminal is true when Out is a terminal: progress bars are drawn only then.
	Terminal bool
	// In answers questions (-debug pauses, -on-error=ask, breakpoints).
	In io.Reader
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// Root is the output shared by every build of one run. Lines from parallel
// builds never mix within a line: each line is written under one lock.
type Root struct {
	opts   Options
	mu     sync.Mutex
	colors int
	ask    *asker
}

// New returns the output for one run.
func New(opts Options) *Root {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MachineReadable {
		opts.Color = false
		opts.Terminal = false
	}
	return &Root{opts: opts, ask: newAsker(opts.In)}
}

// kind is the type of a UI line.
type kind int

const (
	kindSay kind = iota
	kindMessage
	kindError
)

func (k kind) String() string {
	switch k {
	case kindMessage:
		return "message"
	case kindError:
		return "error"
	}
	return "say"
}

// buildColors cycle per build, as Packer's do.
var buildColors = []string{"32", "36", "35", "33", "34"}

// Build returns the UI for the build named name ("docker.hello").
func (r *Root) Build(name string) *BuildUI {
	r.mu.Lock()
	c := buildColors[r.colors%len(buildColors)]
	r.colors++
	r.mu.Unlock()
	return &BuildUI{root: r, name: name, color: c}
}

// Say prints a headline that belongs to no build ("==> Wait completed ...").
func (r *Root) Say(msg string) { r.emit("", "", kindSay, msg, "==> ") }

// Message prints a line that belongs to no build, as it is.
func (r *Root) Message(msg string) { r.emit("", "", kindMessage, msg, "") }

// Error prints an error line that belongs to no build.
func (r *Root) Error(msg string) { r.emit("", "", kindError, msg, "") }

// Machine prints a machine-readable row (timestamp,target,type,data...)
// when -machine-readable is on, and nothing otherwise.
func (r *Root) Machine(target, typ string, data ...string) {
	if !r.opts.MachineReadable {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeRow(target, typ, data...)
}

// MachineReadable reports whether rows rather than lines are printed.
func (r *Root) MachineReadable() bool { return r.opts.MachineReadable }

func (r *Root) writeRow(target, typ string, data ...string) {
	fields := make([]string, 0, len(data))
	for _, d := range data {
		fields = append(fields, escapeMachine(secret.Mask(d)))
	}
	fmt.Fprintf(r.opts.Out, "%d,%s,%s,%s\n", r.opts.Now().Unix(), escapeMachine(target), typ, strings.Join(fields, ","))
}

// emit writes msg, one line at a time, with prefix and the build's name.
func (r *Root) emit(name, color string, k kind, msg, prefix string) {
	msg = secret.Mask(msg)
	msg = strings.TrimRight(msg, "\r\n")
	Logger().Info(msg, "build", name, "ui", k.String())
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimRight(line, "\r")
		text := prefix + line
		if name != "" {
			text = prefix + name + ": " + line
		}
		if r.opts.MachineReadable {
			r.writeRow("", "ui", k.String(), text)
			continue
		}
		if r.opts.Timestamp {
			text = r.opts.Now().UTC().Format(time.RFC3339) + ": " + text
		}
		if r.opts.Color {
			text = colorize(k, color, text)
		}
		fmt.Fprintln(r.opts.Out, text)
	}
}

func colorize(k kind, color, text string) string {
	switch {
	case k == kindError:
		return "\x1b[1;31m" + text + "\x1b[0m"
	case color == "":
		return text
	case k == kindSay:
		return "\x1b[1;" + color + "m" + text + "\x1b[0m"
	default:
		return "\x1b[" + color + "m" + text + "\x1b[0m"
	}
}

// escapeMachine applies Packer's machine-readable escaping: commas become
// %!(PACKER_COMMA) and line breaks the two characters \n and \r.
func escapeMachine(s string) string {
	s = strings.ReplaceAll(s, ",", "%!(PACKER_COMMA)")
	s = strings.ReplaceAll(s, "\r", `\r`)
	return strings.ReplaceAll(s, "\n", `\n`)
}

// BuildUI is one build's plugin.UI.
type BuildUI struct {
	root  *Root
	name  string
	color string
}

var _ plugin.UI = (*BuildUI)(nil)

// Say prints "==> name: msg".
func (u *BuildUI) Say(msg string) { u.root.emit(u.name, u.color, kindSay, msg, "==> ") }

// Message prints "    name: msg".
func (u *BuildUI) Message(msg string) { u.root.emit(u.name, u.color, kindMessage, msg, "    ") }

// Error prints "==> name: msg" in red.
func (u *BuildUI) Error(msg string) { u.root.emit(u.name, u.color, kindError, msg, "==> ") }

// Line prints "name: msg" in the build's colour, with no marker (Packer's
// "output will be in this color." line).
func (u *BuildUI) Line(msg string) { u.root.emit(u.name, u.color, kindMessage, msg, "") }

// Stdout returns a writer that prints each line as a Message.
func (u *BuildUI) Stdout() plugin.WriteCloser { return newLineWriter(u.Message) }

// Stderr returns a writer that prints each line as an indented error.
func (u *BuildUI) Stderr() plugin.WriteCloser {
	return newLineWriter(func(s string) { u.root.emit(u.name, u.color, kindError, s, "    ") })
}

// Machine prints a machine-readable row whose target is this build.
func (u *BuildUI) Machine(typ string, data ...string) { u.root.Machine(u.name, typ, data...) }

// Ask prints prompt and waits for one line of input (-debug, -on-error=ask,
// the breakpoint provisioner). Questions from parallel builds are asked
// one at a time.
func (u *BuildUI) Ask(ctx context.Context, prompt string) (string, error) {
	return u.root.ask.ask(ctx, func() { u.Say(prompt) })
}

// Name is the build's name.
func (u *BuildUI) Name() string { return u.name }
