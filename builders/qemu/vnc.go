package qemu

import (
	"bufio"
	"context"
	"crypto/des"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/imgbuild/imgbuild/internal/wait"
)

// vncClient is the small part of an RFB (VNC) client that typing needs:
// the handshake, None or VNC authentication, and key events.
type vncClient struct {
	conn net.Conn
	held []uint32 // keys pressed and not yet released, in press order
}

// dialVNC connects to addr and completes the RFB 3.8 handshake.
func dialVNC(ctx context.Context, addr, password string) (*vncClient, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to QEMU's VNC server at %s: %w", addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	} else {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	c := &vncClient{conn: conn}
	if err := c.handshake(password); err != nil {
		conn.Close()
		return nil, fmt.Errorf("VNC handshake with %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

func (c *vncClient) handshake(password string) error {
	r := bufio.NewReader(c.conn)
	version := make([]byte, 12)
	if _, err := io.ReadFull(r, version); err != nil {
		return fmt.Errorf("reading the server's protocol version: %w", err)
	}
	if string(version[:4]) != "RFB " {
		return fmt.Errorf("not a VNC server (greeting %q)", version)
	}
	if _, err := c.conn.Write([]byte("RFB 003.008\n")); err != nil {
		return err
	}
	var n uint8
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return fmt.Errorf("reading security types: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("server refused the connection: %s", readReason(r))
	}
	types := make([]byte, n)
	if _, err := io.ReadFull(r, types); err != nil {
		return err
	}
	chosen := byte(0)
	for _, t := range types {
		if t == 1 && password == "" || t == 2 && password != "" {
			chosen = t
		}
	}
	if chosen == 0 {
		return fmt.Errorf("server offers security types %v, none usable (password set: %t)", types, password != "")
	}
	if _, err := c.conn.Write([]byte{chosen}); err != nil {
		return err
	}
	if chosen == 2 {
		challenge := make([]byte, 16)
		if _, err := io.ReadFull(r, challenge); err != nil {
			return fmt.Errorf("reading the VNC auth challenge: %w", err)
		}
		resp, err := vncAuthResponse(password, challenge)
		if err != nil {
			return err
		}
		if _, err := c.conn.Write(resp); err != nil {
			return err
		}
	}
	var result uint32
	if err := binary.Read(r, binary.BigEndian, &result); err != nil {
		return fmt.Errorf("reading the security result: %w", err)
	}
	if result != 0 {
		return fmt.Errorf("authentication failed: %s", readReason(r))
	}
	if _, err := c.conn.Write([]byte{1}); err != nil { // ClientInit: shared
		return err
	}
	// ServerInit: width, height, pixel format (16 bytes), name.
	head := make([]byte, 24)
	if _, err := io.ReadFull(r, head); err != nil {
		return fmt.Errorf("reading ServerInit: %w", err)
	}
	nameLen := binary.BigEndian.Uint32(head[20:])
	if _, err := io.CopyN(io.Discard, r, int64(nameLen)); err != nil {
		return err
	}
	return nil
}

// vncAuthResponse encrypts the challenge with DES keyed by the password,
// each key byte bit-reversed as the RFB protocol requires.
func vncAuthResponse(password string, challenge []byte) ([]byte, error) {
	key := make([]byte, 8)
	copy(key, password)
	for i, b := range key {
		var rev byte
		for j := 0; j < 8; j++ {
			if b&(1<<j) != 0 {
				rev |= 1 << (7 - j)
			}
		}
		key[i] = rev
	}
	block, err := des.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 16)
	block.Encrypt(out[:8], challenge[:8])
	block.Encrypt(out[8:], challenge[8:])
	return out, nil
}

func readReason(r io.Reader) string {
	var n uint32
	if binary.Read(r, binary.BigEndian, &n) != nil || n > 4096 {
		return "(no reason given)"
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "(no reason given)"
	}
	return string(b)
}

func (c *vncClient) key(keysym uint32, down bool) error {
	msg := make([]byte, 8)
	msg[0] = 4 // KeyEvent
	if down {
		msg[1] = 1
	}
	binary.BigEndian.PutUint32(msg[4:], keysym)
	_, err := c.conn.Write(msg)
	return err
}

// typeKeys sends the actions, pausing interval between keys. On an error
// or cancellation every key still pressed is released at once; keys held
// on purpose (<leftCtrlOn> in one boot_command entry, Off in a later one)
// stay pressed until Close releases them, so that a forgotten modifier
// cannot stick in the guest.
func (c *vncClient) typeKeys(ctx context.Context, acts []keyAction, interval time.Duration) (err error) {
	const leftShift = 0xffe1
	defer func() {
		if err != nil {
			err = fmt.Errorf("sending keys over VNC: %w", errors.Join(err, c.releaseAll()))
		}
	}()
	sleep := func(d time.Duration) error { return wait.Sleep(ctx, d) }
	// A key is held briefly, as a typist does: a press and release in the
	// same instant can reach a busy guest's keyboard queue as one burst.
	hold := min(interval/4, 10*time.Millisecond)
	for _, a := range acts {
		if a.wait > 0 {
			if err := sleep(a.wait); err != nil {
				return err
			}
			continue
		}
		switch {
		case a.down:
			err = c.press(a.keysym)
		case a.up:
			err = c.release(a.keysym)
		default:
			if a.shift {
				err = c.press(leftShift)
			}
			err = errors.Join(err, c.press(a.keysym))
			if err == nil {
				err = sleep(hold)
			}
			err = errors.Join(err, c.release(a.keysym))
			if a.shift {
				err = errors.Join(err, c.release(leftShift))
			}
		}
		if err != nil {
			return err
		}
		if err := sleep(interval); err != nil {
			return err
		}
	}
	return nil
}

func (c *vncClient) press(k uint32) error {
	if !slices.Contains(c.held, k) {
		c.held = append(c.held, k)
	}
	return c.key(k, true)
}

// release sends the key-up even if the key was not recorded as pressed:
// a key-up the guest does not need is harmless, a missing one is not.
func (c *vncClient) release(k uint32) error {
	if i := slices.Index(c.held, k); i >= 0 {
		c.held = slices.Delete(c.held, i, i+1)
	}
	return c.key(k, false)
}

// releaseAll releases the keys still pressed, last pressed first.
func (c *vncClient) releaseAll() error {
	var err error
	for len(c.held) > 0 {
		err = errors.Join(err, c.release(c.held[len(c.held)-1]))
	}
	return err
}

// Close releases any key still pressed and disconnects.
func (c *vncClient) Close() error {
	_ = c.releaseAll()
	return c.conn.Close()
}
