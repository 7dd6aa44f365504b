// Package checksum is Packer's "checksum" post-processor: it hashes every
// file of the artifact (one read for all hash types) and appends
// "<hash>\t<file name>" lines to one output file per type.
package checksum

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/imgbuild/imgbuild/internal/stream"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

func init() {
	plugin.RegisterPostProcessor("checksum", func() plugin.PostProcessor { return &PostProcessor{} })
}

// Config holds the checksum's options, named as Packer's.
type Config struct {
	ChecksumTypes []string `hcl:"checksum_types,optional"`
	Output        string   `hcl:"output,optional"`
}

var hashes = map[string]func() hash.Hash{
	"md5": md5.New, "sha1": sha1.New, "sha224": sha256.New224,
	"sha256": sha256.New, "sha384": sha512.New384, "sha512": sha512.New,
}

// PostProcessor writes checksum files.
type PostProcessor struct {
	cfg  Config
	tmpl *template.Template
}

// Config returns the options to decode into.
func (p *PostProcessor) Config() any { return &p.cfg }

// Prepare fills Packer's defaults and checks the types and output pattern.
func (p *PostProcessor) Prepare() ([]string, error) {
	var errs []error
	if len(p.cfg.ChecksumTypes) == 0 {
		p.cfg.ChecksumTypes = []string{"md5"}
	}
	for _, t := range p.cfg.ChecksumTypes {
		if hashes[t] == nil {
			errs = append(errs, fmt.Errorf("checksum type %q is not supported: use md5, sha1, sha224, sha256, sha384 or sha512", t))
		}
	}
	if p.cfg.Output == "" {
		p.cfg.Output = "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum"
	}
	t, err := template.New("output").Option("missingkey=error").Parse(p.cfg.Output)
	if err != nil {
		errs = append(errs, fmt.Errorf("output is not a valid template: %w", err))
	}
	p.tmpl = t
	return nil, errors.Join(errs...)
}

// PostProcess hashes the artifact's files.
func (p *PostProcessor) PostProcess(ctx context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	files := in.Files()
	if len(files) == 0 {
		env.UI.Say("The artifact has no files: nothing to checksum.")
		return in, true, false, nil
	}
	outputs := map[string]string{}
	for _, t := range p.cfg.ChecksumTypes {
		var b strings.Builder
		data := map[string]string{"BuildName": env.SourceName, "BuilderType": env.SourceType, "ChecksumType": t}
		if err := p.tmpl.Execute(&b, data); err != nil {
			return nil, false, false, fmt.Errorf("expanding output %q: %w", p.cfg.Output, err)
		}
		outputs[t] = b.String()
	}
	sums := make(map[string][]string) // type -> lines
	for _, f := range files {
		env.UI.Say(fmt.Sprintf("Computing %s of %s", strings.Join(p.cfg.ChecksumTypes, ", "), f))
		got, err := hashFile(ctx, env.UI, f, p.cfg.ChecksumTypes)
		if err != nil {
			return nil, false, false, err
		}
		for t, sum := range got {
			sums[t] = append(sums[t], fmt.Sprintf("%x\t%s\n", sum, filepath.Base(f)))
		}
	}
	var written []string
	for _, t := range p.cfg.ChecksumTypes {
		if err := appendLines(outputs[t], sums[t]); err != nil {
			return nil, false, false, err
		}
		if !slices.Contains(written, outputs[t]) {
			written = append(written, outputs[t])
		}
	}
	return &Artifact{files: written}, true, false, nil
}

// hashFile reads f once, feeding every hash.
func hashFile(ctx context.Context, u plugin.UI, f string, types []string) (map[string][]byte, error) {
	fh, err := os.Open(f)
	if err != nil {
		return nil, fmt.Errorf("opening %s to checksum it: %w", f, err)
	}
	defer fh.Close()
	size := int64(-1)
	if st, err := fh.Stat(); err == nil {
		size = st.Size()
	}
	hs := map[string]hash.Hash{}
	ws := make([]io.Writer, 0, len(types))
	for _, t := range types {
		if hs[t] == nil {
			hs[t] = hashes[t]()
			ws = append(ws, hs[t])
		}
	}
	r := u.TrackProgress(filepath.Base(f), size, fh)
	defer r.Close()
	if _, err := io.Copy(io.MultiWriter(ws...), stream.Reader(ctx, r)); err != nil {
		return nil, fmt.Errorf("reading %s to checksum it: %w", f, err)
	}
	out := map[string][]byte{}
	for t, h := range hs {
		out[t] = h.Sum(nil)
	}
	return out, nil
}

// appendLines appends to the checksum file, as Packer does, so several
// builds can share one file.
func appendLines(path string, lines []string) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating folder for %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening checksum file %s: %w", path, err)
	}
	_, err = io.WriteString(f, strings.Join(lines, ""))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing checksum file %s: %w", path, err)
	}
	return nil
}

// Artifact is the set of checksum files written.
type Artifact struct{ files []string }

// BuilderID is Packer's id for checksum artifacts.
func (a *Artifact) BuilderID() string { return "packer.post-processor.checksum" }

// ID is empty: checksum files have no id of their own.
func (a *Artifact) ID() string { return "" }

// Files lists the checksum files.
func (a *Artifact) Files() []string { return a.files }

// String describes the artifact.
func (a *Artifact) String() string { return "Created checksum files: " + strings.Join(a.files, ", ") }

// State knows nothing builder-specific.
func (a *Artifact) State(string) any { return nil }

// Destroy removes the checksum files.
func (a *Artifact) Destroy(context.Context) error {
	var errs []error
	for _, f := range a.files {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
