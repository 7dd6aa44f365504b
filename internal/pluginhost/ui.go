package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// servedUI is imgbuild's UI as a plugin sees it (packersdk.Ui): what the
// plugin says goes through the build's UI, with its prefix, colours,
// machine-readable rows and secret masking.
type servedUI struct {
	ctx context.Context
	ui  plugin.UI
}

var _ packersdk.Ui = (*servedUI)(nil)

func newServedUI(ctx context.Context, ui plugin.UI) *servedUI { return &servedUI{ctx: ctx, ui: ui} }

func (u *servedUI) Say(msg string)                  { u.ui.Say(msg) }
func (u *servedUI) Sayf(format string, args ...any) { u.ui.Say(fmt.Sprintf(format, args...)) }
func (u *servedUI) Message(msg string)              { u.ui.Message(msg) }
func (u *servedUI) Error(msg string)                { u.ui.Error(msg) }
func (u *servedUI) Errorf(format string, args ...any) {
	u.ui.Error(fmt.Sprintf(format, args...))
}

// Machine prints a machine-readable row when the UI prints them.
func (u *servedUI) Machine(typ string, data ...string) {
	if m, ok := u.ui.(plugin.MachineUI); ok {
		m.Machine(typ, data...)
	}
}

// Ask reaches the user when the UI can ask (a terminal).
func (u *servedUI) Ask(prompt string) (string, error) {
	if a, ok := u.ui.(plugin.Asker); ok {
		return a.Ask(u.ctx, prompt)
	}
	return "", errors.New("imgbuild cannot ask questions here (no terminal)")
}

func (u *servedUI) Askf(format string, args ...any) (string, error) {
	return u.Ask(fmt.Sprintf(format, args...))
}

// TrackProgress shows the plugin's transfer with imgbuild's progress bar.
func (u *servedUI) TrackProgress(src string, currentSize, totalSize int64, stream io.ReadCloser) io.ReadCloser {
	return u.ui.TrackProgress(src, totalSize, stream)
}
