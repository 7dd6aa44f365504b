package qemu

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// startPausedQemu starts QEMU with a VNC server and no guest code running
// (-S), which is all a VNC handshake needs.
func startPausedQemu(t *testing.T, vncArgs ...string) int {
	bin := testenv.NeedCommand(t, "qemu-system-x86_64")
	port, err := freePort("127.0.0.1", 5900, 5999)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-S", "-display", "none", "-nodefaults", "-m", "32", "-machine", "accel=tcg"}, vncArgs...)
	args = append(args, "-vnc", fmt.Sprintf("127.0.0.1:%d", port-5900)+strings.Join(vncSuffix(vncArgs), ""))
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; i < 50; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return port
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("QEMU's VNC server did not start")
	return 0
}

func vncSuffix(args []string) []string {
	for _, a := range args {
		if strings.HasPrefix(a, "secret,") {
			return []string{",password-secret=vncpw"}
		}
	}
	return nil
}

func TestVNCClientAuthenticatesToQemuWithAndWithoutPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("starts qemu")
	}
	tests := []struct {
		name       string
		qemuArgs   []string
		password   string
		wantErrSub string
	}{
		{"no password", nil, "", ""},
		{"right password", []string{"-object", "secret,id=vncpw,data=s3cret"}, "s3cret", ""},
		{"wrong password is refused", []string{"-object", "secret,id=vncpw,data=s3cret"}, "wrong", "authentication failed"},
		{"missing password is refused", []string{"-object", "secret,id=vncpw,data=s3cret"}, "", "none usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := startPausedQemu(t, tt.qemuArgs...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := dialVNC(ctx, "127.0.0.1:"+strconv.Itoa(port), tt.password)
			if tt.wantErrSub == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if err := c.typeKeys(ctx, []keyAction{{keysym: 'a'}}, 0); err != nil {
					t.Fatalf("sending a key: %v", err)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("handshake succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Fatalf("err = %v, want it to say %q", err, tt.wantErrSub)
			}
		})
	}
}

// fakeRFB accepts one client, completes a no-auth RFB 3.8 handshake, and
// records the key events it receives as "+sym"/"-sym".
func fakeRFB(t *testing.T) (addr string, events <-chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 12)
		_, _ = c.Write([]byte("RFB 003.008\n"))
		_, _ = io.ReadFull(c, buf)         // client version
		_, _ = c.Write([]byte{1, 1})       // one security type: None
		_, _ = io.ReadFull(c, buf[:1])     // chosen type
		_, _ = c.Write([]byte{0, 0, 0, 0}) // SecurityResult OK
		_, _ = io.ReadFull(c, buf[:1])     // ClientInit
		init := make([]byte, 24+4)         // ServerInit with a 4-byte name
		binary.BigEndian.PutUint32(init[20:], 4)
		copy(init[24:], "test")
		_, _ = c.Write(init)
		msg := make([]byte, 8)
		for {
			if _, err := io.ReadFull(c, msg); err != nil {
				return
			}
			sign := "-"
			if msg[1] == 1 {
				sign = "+"
			}
			ch <- fmt.Sprintf("%s%x", sign, binary.BigEndian.Uint32(msg[4:]))
		}
	}()
	return ln.Addr().String(), ch
}

func TestTypedKeysArriveAsPackerSendsThem(t *testing.T) {
	addr, events := fakeRFB(t)
	c, err := dialVNC(context.Background(), addr, "")
	if err != nil {
		t.Fatal(err)
	}
	acts, err := parseKeys("A<leftCtrlOn>c<leftCtrlOff><enter>")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.typeKeys(context.Background(), acts, 0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var got []string
	for e := range events {
		got = append(got, e)
	}
	want := "+ffe1 +41 -41 -ffe1 +ffe3 +63 -63 -ffe3 +ff0d -ff0d"
	if strings.Join(got, " ") != want {
		t.Errorf("key events = %s\nwant         %s", strings.Join(got, " "), want)
	}
}

func TestHeldKeysAreReleasedOnCloseAndOnCancel(t *testing.T) {
	tests := []struct {
		name   string
		keys   string
		cancel bool
		want   string
	}{
		// <leftCtrlOn> without Off: Close still lets go of it.
		{"a modifier left on is released by Close", "<leftCtrlOn>c", false, "+ffe3 +63 -63 -ffe3"},
		// Cancelled during the wait: the held Alt is released at once.
		{"a cancelled command releases what it holds", "<leftAltOn><wait10s>x", true, "+ffe9 -ffe9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, events := fakeRFB(t)
			c, err := dialVNC(context.Background(), addr, "")
			if err != nil {
				t.Fatal(err)
			}
			acts, err := parseKeys(tt.keys)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(100*time.Millisecond, cancel)
			}
			err = c.typeKeys(ctx, acts, 0)
			if tt.cancel != (err != nil) {
				t.Errorf("typeKeys: %v (cancelled: %t)", err, tt.cancel)
			}
			if !tt.cancel {
				c.Close()
			}
			var got []string
			for e := range events {
				got = append(got, e)
				if len(got) == len(strings.Fields(tt.want)) {
					break
				}
			}
			c.Close()
			if strings.Join(got, " ") != tt.want {
				t.Errorf("key events = %s, want %s", strings.Join(got, " "), tt.want)
			}
		})
	}
}

// vnc_use_password: the random password reaches QEMU in a 0600 file, not
// on its command line (where ps shows it), and QEMU takes it from there.
func TestVNCPasswordGoesToQemuInAFileNotOnItsCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts qemu")
	}
	b := minimal()
	b.config.VNCUsePassword = true
	if _, err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	st := &state{cfg: &b.config, outputDir: "out", diskPaths: []string{"out/vm"}, sourcePath: "x.iso", accel: "tcg",
		vncPort: 5901, vncPassword: "a1b2c3d4"}
	remove, err := writeVNCPasswordFile(st)
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	if fi, err := os.Stat(st.vncPasswordFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file %s: %v, mode %v; want 0600", st.vncPasswordFile, err, fi.Mode().Perm())
	}
	args, err := buildArgs(st)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	if strings.Contains(line, st.vncPassword) || !strings.Contains(line, "secret,id=vncpass0,file="+st.vncPasswordFile) {
		t.Fatalf("command line %q: want the password file, not the password", line)
	}

	port := startPausedQemu(t, "-object", "secret,id=vncpw,file="+st.vncPasswordFile)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialVNC(ctx, "127.0.0.1:"+strconv.Itoa(port), st.vncPassword)
	if err != nil {
		t.Fatalf("QEMU refused the password from the file: %v", err)
	}
	c.Close()

	if err := remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(st.vncPasswordFile); !os.IsNotExist(err) {
		t.Errorf("the password file is still there after its removal: %v", err)
	}
}

// A start that fails before QEMU runs removes the VNC password file too.
func TestAFailedStartRemovesTheVNCPasswordFile(t *testing.T) {
	b := minimal()
	b.config.VNCUsePassword = true
	b.config.EFIBoot = true
	if _, err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	b.config.EFIFirmwareCode = filepath.Join(t.TempDir(), "missing-CODE.fd")
	st := &state{cfg: &b.config, outputDir: t.TempDir(), diskPaths: []string{"out/vm"}, sourcePath: "x.iso", accel: "tcg", vncPort: 5901}
	if _, err := stepQemu(context.Background(), st); err == nil || !strings.Contains(err.Error(), "efi_firmware_code") {
		t.Fatalf("stepQemu = %v, want the missing firmware named", err)
	}
	if st.vncPasswordFile == "" {
		t.Fatal("no VNC password file was written; the test proves nothing")
	}
	if _, err := os.Stat(st.vncPasswordFile); !os.IsNotExist(err) {
		t.Errorf("the VNC password file %s is left after the failed start (%v)", st.vncPasswordFile, err)
	}
}
