package ui

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// SetupLog installs the default slog logger from the environment:
// IMGBUILD_LOG_PATH names a file to append to, IMGBUILD_LOG=1 logs to
// stderr (Packer's PACKER_LOG_PATH and PACKER_LOG do the same);
// otherwise logs are dropped. Every record is masked. The returned
// function closes the log file.
func SetupLog(getenv func(string) string, stderr io.Writer) (func(), error) {
	var w io.Writer
	closeFn := func() {}
	on := func(name string) bool { v := getenv(name); return v != "" && v != "0" }
	// Packer's variables work too: PACKER_LOG turns logging on, and
	// PACKER_LOG_PATH, only with it, sends the log to a file.
	pathVar := "IMGBUILD_LOG_PATH"
	if getenv(pathVar) == "" && on("PACKER_LOG") && getenv("PACKER_LOG_PATH") != "" {
		pathVar = "PACKER_LOG_PATH"
	}
	switch {
	case getenv(pathVar) != "":
		f, err := os.OpenFile(getenv(pathVar), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return closeFn, fmt.Errorf("opening the log file %s: %w", pathVar, err)
		}
		w = f
		closeFn = func() { _ = f.Close() }
	case on("IMGBUILD_LOG") || on("PACKER_LOG"):
		w = stderr
	default:
		setLogger(slog.New(slog.DiscardHandler))
		return closeFn, nil
	}
	// Values are masked before slog quotes them (a quoted secret would no
	// longer match), and whole records again as they are written.
	h := slog.NewTextHandler(&maskWriter{w: w}, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: maskAttr})
	setLogger(slog.New(h))
	return closeFn, nil
}

var logger atomic.Pointer[slog.Logger]

func init() { logger.Store(slog.New(slog.DiscardHandler)) }

// Logger is the run's log (discarded unless SetupLog enabled it). Output
// lines are logged too, masked.
func Logger() *slog.Logger { return logger.Load() }

func setLogger(l *slog.Logger) {
	logger.Store(l)
	slog.SetDefault(l)
}

// maskWriter masks secrets in each write; slog's text handler writes one
// whole record per call, so a secret is never split across writes.
type maskWriter struct{ w io.Writer }

func (m *maskWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(m.w, secret.Mask(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func maskAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString, slog.KindAny:
		return slog.String(a.Key, secret.Mask(a.Value.String()))
	}
	return a
}
