// Package compress is Packer's "compress" post-processor: it packs the
// artifact's files into one archive or compressed file, streaming and on
// every core, with the format taken from the output's extension.
package compress

import (
	"archive/tar"
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/imgbuild/imgbuild/internal/stream"

	"github.com/klauspost/compress/flate"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

func init() {
	plugin.RegisterPostProcessor("compress", func() plugin.PostProcessor { return &PostProcessor{} })
}

// Config holds compress's options, named as Packer's.
type Config struct {
	Output           string `hcl:"output,optional"`
	Format           string `hcl:"format,optional"`
	CompressionLevel *int   `hcl:"compression_level,optional"`
}

// PostProcessor compresses artifacts.
type PostProcessor struct {
	cfg   Config
	tmpl  *template.Template
	level int
}

// Config returns the options to decode into.
func (p *PostProcessor) Config() any { return &p.cfg }

// Prepare fills Packer's defaults and checks the format and level.
func (p *PostProcessor) Prepare() ([]string, error) {
	var errs []error
	if p.cfg.Output == "" {
		p.cfg.Output = "packer_{{.BuildName}}_{{.BuilderType}}.tar.gz"
	}
	t, err := template.New("output").Option("missingkey=error").Parse(p.cfg.Output)
	if err != nil {
		errs = append(errs, fmt.Errorf("output is not a valid template: %w", err))
	}
	p.tmpl = t
	name := p.cfg.Output
	if p.cfg.Format != "" {
		name = p.cfg.Format
	}
	if _, err := formatOf(name); err != nil {
		errs = append(errs, err)
	}
	p.level = 6
	if l := p.cfg.CompressionLevel; l != nil {
		switch {
		case *l == -1:
		case *l < 1 || *l > 9:
			errs = append(errs, fmt.Errorf("compression_level %d must be between 1 and 9 (or -1 for the default)", *l))
		default:
			p.level = *l
		}
	}
	return nil, errors.Join(errs...)
}

// PostProcess writes the archive; the input is destroyed unless kept.
func (p *PostProcessor) PostProcess(ctx context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	var b strings.Builder
	if err := p.tmpl.Execute(&b, map[string]string{"BuildName": env.SourceName, "BuilderType": env.SourceType}); err != nil {
		return nil, false, false, fmt.Errorf("expanding output %q: %w", p.cfg.Output, err)
	}
	output := b.String()
	name := output
	if p.cfg.Format != "" {
		name = p.cfg.Format
	}
	f, err := formatOf(name)
	if err != nil {
		return nil, false, false, err
	}
	files := in.Files()
	switch {
	case len(files) == 0:
		return nil, false, false, fmt.Errorf("the artifact (%s) has no files to compress; for a Docker image, use docker-save first", in.BuilderID())
	case f.archive == "" && len(files) > 1:
		return nil, false, false, fmt.Errorf("the artifact has %d files and %s holds one: use an archive format (.tar.gz, .tar.zst, .tar.lz4, .tgz, .zip)", len(files), output)
	}
	for _, in := range files {
		if sameFile(in, output) {
			return nil, false, false, fmt.Errorf("output %s is one of the artifact's files: choose another output", output)
		}
	}
	env.UI.Say(fmt.Sprintf("Compressing %d file(s) into %s", len(files), output))
	if err := p.write(ctx, env.UI, f, files, output); err != nil {
		return nil, false, false, err
	}
	return &Artifact{path: output}, false, false, nil
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// write creates output through a temporary file, so that a failure or an
// interrupt never leaves a truncated archive under the final name.
func (p *PostProcessor) write(ctx context.Context, u plugin.UI, f format, files []string, output string) (err error) {
	if dir := filepath.Dir(output); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating folder for %s: %w", output, err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".part-*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", output, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	cw, err := compressor(f.codec, tmp, p.level)
	if err != nil {
		return fmt.Errorf("starting compression of %s: %w", output, err)
	}
	switch f.archive {
	case "tar":
		err = writeTar(ctx, u, cw, files)
	case "zip":
		err = writeZip(ctx, u, cw, files, p.level)
	default:
		err = copyFile(ctx, u, cw, files[0])
	}
	if err != nil {
		return fmt.Errorf("compressing into %s: %w", output, err)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("finishing %s: %w", output, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", output, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", output, err)
	}
	if err := os.Rename(tmp.Name(), output); err != nil {
		return fmt.Errorf("moving the archive to %s: %w", output, err)
	}
	return nil
}

func writeTar(ctx context.Context, u plugin.UI, w io.Writer, files []string) error {
	tw := tar.NewWriter(w)
	seen := map[string]bool{}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		hdr, err := tar.FileInfoHeader(st, "")
		if err != nil {
			return fmt.Errorf("describing %s: %w", f, err)
		}
		hdr.Name = filepath.Base(f)
		if seen[hdr.Name] {
			return fmt.Errorf("two files are named %s: an archive holds each name once", hdr.Name)
		}
		seen[hdr.Name] = true
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if st.Mode().IsRegular() {
			if err := copyFile(ctx, u, tw, f); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func writeZip(ctx context.Context, u plugin.UI, w io.Writer, files []string, level int) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, level)
	})
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		hdr, err := zip.FileInfoHeader(st)
		if err != nil {
			return fmt.Errorf("describing %s: %w", f, err)
		}
		hdr.Name = filepath.Base(f)
		hdr.Method = zip.Deflate
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if err := copyFile(ctx, u, fw, f); err != nil {
			return err
		}
	}
	return zw.Close()
}

// copyFile streams one file into w, stopping when ctx ends.
func copyFile(ctx context.Context, u plugin.UI, w io.Writer, path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	size := int64(-1)
	if st, err := fh.Stat(); err == nil {
		size = st.Size()
	}
	r := u.TrackProgress(filepath.Base(path), size, fh)
	defer r.Close()
	if _, err := io.Copy(w, stream.Reader(ctx, r)); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// Artifact is the compressed file.
type Artifact struct{ path string }

// BuilderID is Packer's id for compress artifacts.
func (a *Artifact) BuilderID() string { return "packer.post-processor.compress" }

// ID is the archive's path.
func (a *Artifact) ID() string { return a.path }

// Files is the archive.
func (a *Artifact) Files() []string { return []string{a.path} }

// String describes the artifact.
func (a *Artifact) String() string { return "compressed artifacts in: " + a.path }

// State knows nothing builder-specific.
func (a *Artifact) State(string) any { return nil }

// Destroy removes the archive.
func (a *Artifact) Destroy(context.Context) error {
	if err := os.Remove(a.path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
