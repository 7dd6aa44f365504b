package docker

import (
	"context"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestContainerLogsShowsBothStreamsWithoutFrameHeaders(t *testing.T) {
	cli := needEngine(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		tty  bool
	}{
		{name: "multiplexed streams", tty: false},
		{name: "terminal", tty: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A line of 'A's: its length makes a frame header byte that
			// is a printable character, which must not reach the message.
			line := strings.Repeat("A", 65)
			resp, err := cli.ContainerCreate(ctx, &container.Config{
				Image: testenv.BaseImage,
				Tty:   c.tty,
				Cmd:   []string{"sh", "-c", "echo " + line + "; echo to-stderr >&2; exit 3"},
			}, nil, nil, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			defer cli.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
			if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
				t.Fatal(err)
			}
			waitC, errC := cli.ContainerWait(ctx, resp.ID, container.WaitConditionNotRunning)
			select {
			case <-waitC:
			case err := <-errC:
				t.Fatal(err)
			}
			got := containerLogs(ctx, cli, resp.ID, c.tty)
			got = strings.ReplaceAll(got, "\r", "") // a terminal ends lines with CR LF
			// The engine keeps no order between the two streams: either is right.
			want1 := "; its output:\n" + line + "\nto-stderr\n"
			want2 := "; its output:\nto-stderr\n" + line + "\n"
			if got != want1 && got != want2 {
				t.Errorf("containerLogs = %q, want %q (in either order)", got, want1)
			}
		})
	}
}
