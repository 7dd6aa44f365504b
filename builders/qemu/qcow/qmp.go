// Package qcow keeps a running QEMU disk as a chain of qcow2 layers for
// the step cache: a checkpoint freezes the file the VM writes to as a
// layer, named by its key, and the VM goes on writing to a fresh overlay
// backed by it, without stopping.
package qcow

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/imgbuild/imgbuild/internal/wait"
)

// QMP is a connection to a QEMU Machine Protocol socket.
type QMP struct {
	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
}

// dialWait bounds how long DialQMP waits for QEMU's socket.
const dialWait = 30 * time.Second

// maxSocketPath is the longest path a Unix socket can have on Linux.
const maxSocketPath = 107

// DialQMP connects to the QMP socket at path, waiting a while for QEMU to
// create it, and leaves the capabilities negotiation.
func DialQMP(ctx context.Context, path string) (*QMP, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("the QMP socket path %s is longer than %d bytes, which Unix sockets do not allow: choose a shorter qmp_socket_path", path, maxSocketPath)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, dialWait, fmt.Errorf("QEMU did not open its QMP socket within %s", dialWait))
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			q := &QMP{conn: conn, r: bufio.NewReader(conn)}
			if err := q.handshake(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			return q, nil
		}
		if serr := wait.Sleep(ctx, 50*time.Millisecond); serr != nil {
			return nil, fmt.Errorf("connecting to QEMU's QMP socket %s: %w (%w)", path, err, serr)
		}
	}
}

func (q *QMP) handshake(ctx context.Context) error {
	var greeting struct{ QMP json.RawMessage }
	if err := q.read(ctx, &greeting); err != nil {
		return fmt.Errorf("reading QEMU's QMP greeting: %w", err)
	}
	if greeting.QMP == nil {
		return errors.New("the QMP socket did not greet as QEMU does")
	}
	return q.Execute(ctx, "qmp_capabilities", nil, nil)
}

// reply is a QMP message: a command's return or error, or an event.
type reply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string `json:"event"`
}

// Execute runs command with args (nil: none) and decodes its return into
// result (nil: ignored). Events that arrive meanwhile are skipped.
func (q *QMP) Execute(ctx context.Context, command string, args, result any) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	msg := map[string]any{"execute": command}
	if args != nil {
		msg["arguments"] = args
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	q.deadline(ctx)
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("QMP %s: %w", command, err)
	}
	return q.awaitReturn(ctx, command, result)
}

// awaitReturn reads the answer to the command just sent (q.mu held).
func (q *QMP) awaitReturn(ctx context.Context, command string, result any) error {
	for {
		var r reply
		if err := q.read(ctx, &r); err != nil {
			return fmt.Errorf("QMP %s: %w", command, err)
		}
		switch {
		case r.Event != "":
			continue
		case r.Error != nil:
			return fmt.Errorf("QMP %s: %s: %s", command, r.Error.Class, r.Error.Desc)
		case result != nil:
			if err := json.Unmarshal(r.Return, result); err != nil {
				return fmt.Errorf("QMP %s: reading its answer: %w", command, err)
			}
		}
		return nil
	}
}

func (q *QMP) deadline(ctx context.Context) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(5 * time.Minute)
	}
	_ = q.conn.SetDeadline(dl)
}

func (q *QMP) read(ctx context.Context, v any) error {
	q.deadline(ctx)
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	return json.Unmarshal(line, v)
}

// Close closes the connection (QEMU keeps running).
func (q *QMP) Close() error { return q.conn.Close() }
