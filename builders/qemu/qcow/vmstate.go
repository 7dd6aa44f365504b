package qcow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/imgbuild/imgbuild/internal/wait"
)

// A VM state is QEMU's migration stream of a machine: its devices and
// memory, not its disks. Saved while the machine is stopped, right after
// its disk was frozen as a layer, it restores the machine as it was on a
// fresh overlay of that layer: the guest goes on where it stopped.
//
// The stream goes through a pipe whose end QEMU receives over the QMP
// socket (getfd), so imgbuild compresses and stores it itself: no shell,
// no helper program, and memory stays flat however large the guest.

// stateFD is the name QEMU knows the pipe by.
const stateFD = "imgbuild-vmstate"

// noBandwidthLimit lifts QEMU's default migration cap (32 MiB/s), meant
// for live migration between hosts, not for a pipe on one host.
const noBandwidthLimit = int64(1) << 40

// SaveState writes the stopped machine's state to w. The machine stays
// stopped (QEMU's post-migrate state): the caller continues it with Cont.
func (q *QMP) SaveState(ctx context.Context, w io.Writer) error {
	r, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("saving the VM state: %w", err)
	}
	defer r.Close()
	err = q.sendFD(ctx, pw)
	pw.Close() // QEMU holds its own copy now
	if err != nil {
		return fmt.Errorf("saving the VM state: %w", err)
	}
	_ = q.Execute(ctx, "migrate-set-parameters", map[string]any{"max-bandwidth": noBandwidthLimit}, nil)
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(w, r)
		copied <- err
	}()
	if err := q.Execute(ctx, "migrate", map[string]any{"uri": "fd:" + stateFD}, nil); err != nil {
		r.Close() // ends the copy
		<-copied
		return fmt.Errorf("saving the VM state: %w", err)
	}
	if err := q.waitMigration(ctx); err != nil {
		r.Close() // ends the copy
		<-copied
		return fmt.Errorf("saving the VM state: %w", err)
	}
	// QEMU closes its end of the pipe once the migration completed: the
	// copy ends at EOF with the whole stream. (Closing our end first would
	// cut off what is still in the pipe.)
	select {
	case err := <-copied:
		if err != nil {
			return fmt.Errorf("saving the VM state: %w", err)
		}
		return nil
	case <-ctx.Done():
		r.Close()
		<-copied
		return fmt.Errorf("saving the VM state: %w", context.Cause(ctx))
	}
}

// LoadState feeds a saved state to a QEMU started with "-incoming defer"
// and waits until the machine runs.
func (q *QMP) LoadState(ctx context.Context, state io.Reader) error {
	r, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("restoring the VM state: %w", err)
	}
	defer pw.Close()
	err = q.sendFD(ctx, r)
	r.Close()
	if err != nil {
		return fmt.Errorf("restoring the VM state: %w", err)
	}
	if err := q.Execute(ctx, "migrate-incoming", map[string]any{"uri": "fd:" + stateFD}, nil); err != nil {
		return fmt.Errorf("restoring the VM state: %w", err)
	}
	_, cerr := io.Copy(pw, state)
	pw.Close()
	if cerr != nil {
		return fmt.Errorf("restoring the VM state: feeding QEMU: %w", cerr)
	}
	if err := q.waitRunning(ctx); err != nil {
		return fmt.Errorf("restoring the VM state: %w", err)
	}
	return nil
}

// Stop pauses the machine; Cont resumes it (also after SaveState).
func (q *QMP) Stop(ctx context.Context) error { return q.Execute(ctx, "stop", nil, nil) }
func (q *QMP) Cont(ctx context.Context) error { return q.Execute(ctx, "cont", nil, nil) }

// sendFD hands f to QEMU under stateFD (QMP getfd with the descriptor in
// the message's ancillary data).
func (q *QMP) sendFD(ctx context.Context, f *os.File) error {
	uc, ok := q.conn.(*net.UnixConn)
	if !ok {
		return errors.New("the QMP connection cannot pass file descriptors")
	}
	q.mu.Lock()
	// Written by hand: the message carries the descriptor.
	b, _ := json.Marshal(map[string]any{"execute": "getfd", "arguments": map[string]any{"fdname": stateFD}})
	q.deadline(ctx)
	_, _, err := uc.WriteMsgUnix(append(b, '\n'), syscall.UnixRights(int(f.Fd())), nil)
	if err != nil {
		q.mu.Unlock()
		return fmt.Errorf("QMP getfd: %w", err)
	}
	err = q.awaitReturn(ctx, "getfd", nil)
	q.mu.Unlock()
	return err
}

type migrationInfo struct {
	Status    string `json:"status"`
	ErrorDesc string `json:"error-desc"`
}

// waitMigration polls the migration until it completes or fails.
func (q *QMP) waitMigration(ctx context.Context) error {
	for {
		var info migrationInfo
		if err := q.Execute(ctx, "query-migrate", nil, &info); err != nil {
			return err
		}
		switch info.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("QEMU's migration %s: %s", info.Status, info.ErrorDesc)
		}
		if err := wait.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitRunning waits until the restored machine runs.
func (q *QMP) waitRunning(ctx context.Context) error {
	for {
		var st struct {
			Status string `json:"status"`
		}
		if err := q.Execute(ctx, "query-status", nil, &st); err != nil {
			return err
		}
		switch st.Status {
		case "running":
			return nil
		case "paused", "postmigrate":
			// Loaded, but not started (QEMU started with -S).
			return q.Cont(ctx)
		case "internal-error", "shutdown", "guest-panicked":
			return fmt.Errorf("the restored machine is in state %q", st.Status)
		}
		if err := wait.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}
