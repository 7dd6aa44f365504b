package qemu

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestHTTPServerServesDirectoryOrContentInThePortRange(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "preseed.cfg"), []byte("from dir"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		path string
		want string
	}{
		{"http_directory", Config{HTTPDir: dir}, "/preseed.cfg", "from dir"},
		{"http_content with a leading slash", Config{HTTPContent: map[string]string{"/ks.cfg": "kickstart"}}, "/ks.cfg", "kickstart"},
		{"http_content without a leading slash", Config{HTTPContent: map[string]string{"user-data": "#cloud-config"}}, "/user-data", "#cloud-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.HTTPAddress, c.HTTPPortMin, c.HTTPPortMax = "127.0.0.1", 8100, 8199
			st := &state{cfg: &c, ui: newTestUI(t), generated: map[string]string{}}
			cleanup, err := stepHTTP(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			defer cleanup(context.Background())
			if st.httpIP != "10.0.2.2" || st.generated["PackerHTTPAddr"] != "10.0.2.2:"+st.httpPort {
				t.Errorf("guest address %s:%s, generated %v", st.httpIP, st.httpPort, st.generated)
			}
			resp, err := http.Get("http://127.0.0.1:" + st.httpPort + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != tt.want {
				t.Errorf("GET %s = %q, want %q", tt.path, body, tt.want)
			}
		})
	}
}

func TestHTTPNetworkProtocolChoosesTheListenerFamily(t *testing.T) {
	c := Config{HTTPContent: map[string]string{"/x": "y"}, HTTPNetworkProtocol: "tcp4", HTTPAddress: "127.0.0.1", HTTPPortMin: 8200, HTTPPortMax: 8299}
	st := &state{cfg: &c, ui: newTestUI(t), generated: map[string]string{}}
	cleanup, err := stepHTTP(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup(context.Background())
	resp, err := http.Get("http://127.0.0.1:" + st.httpPort + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := listenInRange("tcp6", "127.0.0.1", 8300, 8300, nil); err == nil {
		t.Error("tcp6 listened on an IPv4 address")
	}
}

func TestHTTPInterfaceGivesTheBridgedGuestThatInterfacesAddress(t *testing.T) {
	if ip, err := bridgedHostIP("lo"); err != nil || ip != "127.0.0.1" {
		t.Errorf("bridgedHostIP(lo) = %q, %v; want 127.0.0.1", ip, err)
	}
	if _, err := bridgedHostIP("no-such-if0"); err == nil || !strings.Contains(err.Error(), `no network interface "no-such-if0"`) {
		t.Errorf("an unknown interface gave %v", err)
	}
}

// Two builds of one run never get the same port, even before either QEMU
// binds it; a released port can be handed out again.
func TestFreePortReservesWithinTheProcess(t *testing.T) {
	lo := twoFreePorts(t)
	hi := lo + 1
	a, err := freePort("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	b, err := freePort("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("both builds got port %d", a)
	}
	if _, err := freePort("127.0.0.1", lo, hi); err == nil {
		t.Error("a third port was handed out of a range of two")
	}
	reservedPorts.release(a, b)
	if _, err := freePort("127.0.0.1", lo, hi); err != nil {
		t.Errorf("a released port is not handed out again: %v", err)
	}
	reservedPorts.release(lo, hi)
}

// twoFreePorts returns the first of two adjacent ports that are free on
// 127.0.0.1, below Linux's default range of ports for outgoing connections
// (32768 and up), so that no connection of another test takes one of them
// while this test uses the pair.
func twoFreePorts(t *testing.T) int {
	t.Helper()
	free := func(p int) bool {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		l.Close()
		return true
	}
	for p := 24000; p < 32000; p += 2 {
		if free(p) && free(p+1) {
			return p
		}
	}
	t.Fatal("no two adjacent free ports in 24000-32000")
	return 0
}
