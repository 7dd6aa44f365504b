package breakpoint

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func TestBreakpointWaitsForEnterShowsNoteAndCanBeDisabled(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		in      string
		want    string
		wantErr bool
	}{
		{"waits for a line", Config{Note: "look at /etc"}, "\n", `with note "look at /etc"`, false},
		{"disabled does not wait", Config{Disable: true}, "", "Breakpoint disabled", false},
		{"closed input is an error", Config{}, "", "Pausing at breakpoint", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			root := ui.New(ui.Options{Out: &out, In: strings.NewReader(tt.in)})
			p := &Provisioner{cfg: tt.cfg}
			err := p.Provision(context.Background(), &plugin.ProvisionEnv{UI: root.Build("test.b")})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
}

func TestBreakpointStopsWaitingWhenCancelled(t *testing.T) {
	var out bytes.Buffer
	pr, pw := io.Pipe()
	defer pw.Close()
	root := ui.New(ui.Options{Out: &out, In: pr})
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(100*time.Millisecond, func() { cancel(errors.New("interrupted")) })
	err := (&Provisioner{}).Provision(ctx, &plugin.ProvisionEnv{UI: root.Build("test.b")})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want the cancellation", err)
	}
}
