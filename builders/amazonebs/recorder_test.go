package amazonebs

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// ec2Recorder is a reverse proxy to moto that keeps every EC2 request's
// parameters, to prove what moto accepts but does not model was sent. With
// cutOnce set, the first call of that action reaches moto, but its answer
// is cut by a TCP reset halfway through the body: what moto under load
// was seen to do, and what makes the SDK retry a call that succeeded.
type ec2Recorder struct {
	cutOnce string

	mu    sync.Mutex
	calls []url.Values
	cut   bool
}

func recordEC2(t *testing.T) (*ec2Recorder, string) {
	r := &ec2Recorder{}
	return r, r.start(t)
}

func (r *ec2Recorder) start(t *testing.T) string {
	t.Helper()
	target, _ := url.Parse("http://" + testenv.MotoAddr)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		v, _ := url.ParseQuery(string(body))
		r.mu.Lock()
		r.calls = append(r.calls, v)
		cut := !r.cut && r.cutOnce != "" && v.Get("Action") == r.cutOnce
		r.cut = r.cut || cut
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
		if cut {
			cutAnswer(t, w, req, target)
			return
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// cutAnswer sends req to moto, then gives the client the status, the
// headers and half of moto's answer, and resets the connection.
func cutAnswer(t *testing.T, w http.ResponseWriter, req *http.Request, target *url.URL) {
	out := req.Clone(req.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = target.Scheme, target.Host
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		t.Errorf("proxy to moto: %v", err)
		return
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("proxy: %v", err)
		return
	}
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n", resp.StatusCode, http.StatusText(resp.StatusCode), len(answer))
	buf.Write(answer[:len(answer)/2])
	buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // close with a reset, not a clean end of stream
	}
	conn.Close()
}

// params returns the parameters of every call of action.
func (r *ec2Recorder) params(action string) []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []url.Values
	for _, v := range r.calls {
		if v.Get("Action") == action {
			out = append(out, v)
		}
	}
	return out
}
