package http

import (
	"context"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func prepared(t *testing.T, c Config) *DataSource {
	t.Helper()
	d := &DataSource{}
	*d.Config().(*Config) = c
	if _, err := d.Prepare(); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return d
}

// A GET sends the request headers and returns the body, the URL and the
// response's headers (under request_headers, Packer's name), repeated
// headers joined with ", ".
func TestGetReturnsBodyURLAndResponseHeaders(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.Method != "GET" || r.Header.Get("Authorization") != "Bearer t0k" {
			w.WriteHeader(nethttp.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Add("X-Many", "a")
		w.Header().Add("X-Many", "b")
		io.WriteString(w, "abc123  disk.qcow2\n")
	}))
	defer srv.Close()
	d := prepared(t, Config{URL: srv.URL + "/SHA256SUMS", RequestHeaders: map[string]string{"Authorization": "Bearer t0k"}})
	v, err := d.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !v.Type().Equals(d.OutputType()) {
		t.Fatalf("value type %s differs from OutputType %s", v.Type().FriendlyName(), d.OutputType().FriendlyName())
	}
	if got := v.GetAttr("body").AsString(); got != "abc123  disk.qcow2\n" {
		t.Errorf("body = %q", got)
	}
	if got := v.GetAttr("url").AsString(); got != srv.URL+"/SHA256SUMS" {
		t.Errorf("url = %q", got)
	}
	if got := v.GetAttr("request_headers").Index(cty.StringVal("X-Many")).AsString(); got != "a, b" {
		t.Errorf("repeated header = %q, want a, b", got)
	}
}

// POST with a body (method and request_body, from later Packer versions),
// and the errors: an answer other than 200, a body over MaxBody, a bad
// method or no url.
func TestMethodsAndErrors(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"method":"`+r.Method+`","got":"`+string(b)+`"}`)
		case "/huge":
			w.Header().Set("Content-Type", "application/octet-stream")
			chunk := strings.Repeat("x", 1<<20)
			for range MaxBody>>20 + 1 {
				io.WriteString(w, chunk)
			}
		default:
			nethttp.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	v, err := prepared(t, Config{URL: srv.URL + "/echo", Method: "POST", RequestBody: "schematic"}).Execute(ctx)
	if err != nil || v.GetAttr("body").AsString() != `{"method":"POST","got":"schematic"}` {
		t.Errorf("POST: %v, %#v", err, v)
	}
	if _, err := prepared(t, Config{URL: srv.URL + "/missing"}).Execute(ctx); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "200 OK") {
		t.Errorf("404: err = %v, want the status and what is needed", err)
	}
	if _, err := prepared(t, Config{URL: srv.URL + "/huge"}).Execute(ctx); err == nil || !strings.Contains(err.Error(), "16 MiB") {
		t.Errorf("huge body: err = %v, want the size bound", err)
	}
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: srv.URL, Method: "FETCH"}, `method "FETCH" is not one of`},
		{Config{}, "url must be set"},
	} {
		c, want := tt.cfg, tt.want
		d := &DataSource{}
		*d.Config().(*Config) = c
		if _, err := d.Prepare(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Prepare(%+v) = %v, want %q", c, err, want)
		}
	}
}
