// Package http is Packer's core "http" data source: it fetches a URL
// before the sources are evaluated, for data.http.NAME.body (a checksum
// file, a latest-version string, a JSON document).
package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	nethttp "net/http"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

func init() {
	plugin.RegisterDataSource("http", func() plugin.DataSource { return &DataSource{} })
}

// MaxBody bounds the response body: it becomes a template value held in
// memory, not a file to stream.
const MaxBody = 16 << 20

// methods are those Packer's http data source allows.
var methods = []string{"HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}

// Config is the data block. method and request_body are from Packer after
// 1.9; a 1.9 template sets neither and gets a GET.
type Config struct {
	URL            string            `hcl:"url,optional"`
	Method         string            `hcl:"method,optional"`
	RequestHeaders map[string]string `hcl:"request_headers,optional"`
	RequestBody    string            `hcl:"request_body,optional"`
}

// DataSource fetches Config.URL.
type DataSource struct{ cfg Config }

// Config returns the block's configuration struct.
func (d *DataSource) Config() any { return &d.cfg }

// Prepare checks the block offline.
func (d *DataSource) Prepare() ([]string, error) {
	var errs []error
	if d.cfg.URL == "" {
		errs = append(errs, errors.New("url must be set: the address to fetch"))
	}
	if d.cfg.Method == "" {
		d.cfg.Method = "GET"
	}
	if !slices.Contains(methods, d.cfg.Method) {
		errs = append(errs, fmt.Errorf("method %q is not one of %s", d.cfg.Method, strings.Join(methods, ", ")))
	}
	return nil, errors.Join(errs...)
}

// OutputType is data.http.NAME's object. request_headers holds the
// response's headers: Packer's name for them, kept so that templates work.
func (d *DataSource) OutputType() cty.Type {
	return cty.Object(map[string]cty.Type{
		"url":             cty.String,
		"body":            cty.String,
		"request_headers": cty.Map(cty.String),
	})
}

// Execute sends the request; anything but 200 OK is an error.
func (d *DataSource) Execute(ctx context.Context) (cty.Value, error) {
	var body io.Reader
	if d.cfg.RequestBody != "" {
		body = strings.NewReader(d.cfg.RequestBody)
	}
	req, err := nethttp.NewRequestWithContext(ctx, d.cfg.Method, d.cfg.URL, body)
	if err != nil {
		return cty.NilVal, fmt.Errorf("http: url %q: %w", d.cfg.URL, err)
	}
	for k, v := range d.cfg.RequestHeaders {
		req.Header.Set(k, v)
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		return cty.NilVal, fmt.Errorf("http: %s %s: %w", d.cfg.Method, d.cfg.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != nethttp.StatusOK {
		return cty.NilVal, fmt.Errorf("http: %s %s answered %s; the data source needs 200 OK", d.cfg.Method, d.cfg.URL, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !isText(ct) {
		// Packer only prints this, too.
		slog.Warn("http data source: the body is not text and may not survive as a string", "url", d.cfg.URL, "content_type", ct)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return cty.NilVal, fmt.Errorf("http: reading the answer of %s: %w", d.cfg.URL, err)
	}
	if len(b) > MaxBody {
		return cty.NilVal, fmt.Errorf("http: the answer of %s is over %d MiB: a data source value must fit in memory (download large files in a provisioner)", d.cfg.URL, MaxBody>>20)
	}
	headers := map[string]cty.Value{}
	for k, vs := range resp.Header {
		headers[k] = cty.StringVal(strings.Join(vs, ", ")) // RFC 2616's folding of repeated headers
	}
	headerVal := cty.MapValEmpty(cty.String)
	if len(headers) > 0 {
		headerVal = cty.MapVal(headers)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"url":             cty.StringVal(d.cfg.URL),
		"body":            cty.StringVal(string(b)),
		"request_headers": headerVal,
	}), nil
}

// isText reports whether a Content-Type is one whose body reads as text:
// text/*, JSON or SAML metadata, in UTF-8 or ASCII.
func isText(contentType string) bool {
	t, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if !strings.HasPrefix(t, "text/") && t != "application/json" && !strings.HasPrefix(t, "application/samlmetadata+xml") {
		return false
	}
	cs := strings.ToLower(params["charset"])
	return cs == "" || cs == "utf-8" || cs == "us-ascii"
}
