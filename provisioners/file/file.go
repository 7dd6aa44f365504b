// Package file is Packer's "file" provisioner: it uploads files and
// folders to the machine, or downloads them from it, with Packer's
// trailing-slash rules.
package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

func init() {
	plugin.RegisterProvisioner("file", func() plugin.Provisioner { return &Provisioner{} })
}

// Config holds the file provisioner's options, named as Packer's.
type Config struct {
	Source      string   `hcl:"source,optional"`
	Sources     []string `hcl:"sources,optional"`
	Content     string   `hcl:"content,optional"`
	Destination string   `hcl:"destination"`
	Direction   string   `hcl:"direction,optional"`
	// Generated defers the check that sources exist to the upload: they
	// may be made by an earlier step of the build.
	Generated bool `hcl:"generated,optional"`
}

// Provisioner copies files.
type Provisioner struct{ cfg Config }

// Config returns the options to decode into.
func (p *Provisioner) Config() any { return &p.cfg }

// Prepare checks the options.
func (p *Provisioner) Prepare() ([]string, error) {
	c := &p.cfg
	var errs []error
	if c.Direction == "" {
		c.Direction = "upload"
	}
	if c.Direction != "upload" && c.Direction != "download" {
		errs = append(errs, fmt.Errorf("direction %q must be upload or download", c.Direction))
	}
	if c.Source != "" {
		c.Sources = append([]string{c.Source}, c.Sources...)
	}
	n := 0
	if len(c.Sources) > 0 {
		n++
	}
	if c.Content != "" {
		n++
	}
	if n != 1 {
		errs = append(errs, errors.New("set exactly one of source, sources or content"))
	}
	if c.Content != "" && c.Direction == "download" {
		errs = append(errs, errors.New("content can only be uploaded (direction = \"upload\")"))
	}
	if c.Destination == "" {
		errs = append(errs, errors.New("destination must be set"))
	}
	if len(c.Sources) > 1 && !strings.HasSuffix(c.Destination, "/") {
		errs = append(errs, fmt.Errorf("with several sources, destination %q must be a folder ending in /", c.Destination))
	}
	if c.Direction == "upload" && !c.Generated {
		for _, s := range c.Sources {
			if _, err := os.Stat(s); err != nil {
				errs = append(errs, fmt.Errorf("source %s cannot be read (set generated = true if an earlier step creates it): %w", s, err))
			}
		}
	}
	return nil, errors.Join(errs...)
}

// Provision copies each source.
func (p *Provisioner) Provision(ctx context.Context, env *plugin.ProvisionEnv) error {
	if env.Comm == nil {
		return errNoComm
	}
	c := &p.cfg
	if c.Content != "" {
		env.UI.Say(fmt.Sprintf("Uploading content => %s", c.Destination))
		if err := env.Comm.Upload(ctx, c.Destination, strings.NewReader(c.Content), 0o644); err != nil {
			return fmt.Errorf("uploading content to %s: %w", c.Destination, err)
		}
		return nil
	}
	for _, src := range c.Sources {
		var err error
		if c.Direction == "download" {
			err = p.download(ctx, env, src)
		} else {
			err = p.upload(ctx, env, src)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *Provisioner) upload(ctx context.Context, env *plugin.ProvisionEnv, src string) error {
	dst := p.cfg.Destination
	env.UI.Say(fmt.Sprintf("Uploading %s => %s", src, dst))
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("reading source %s: %w", src, err)
	}
	if st.IsDir() {
		if err := env.Comm.UploadDir(ctx, dst, src, nil); err != nil {
			return fmt.Errorf("uploading folder %s to %s: %w", src, dst, err)
		}
		return nil
	}
	// A destination ending in / is a folder: the file keeps its name.
	if strings.HasSuffix(dst, "/") {
		dst = path.Join(dst, filepath.Base(src))
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("opening source %s: %w", src, err)
	}
	r := env.UI.TrackProgress(filepath.Base(src), st.Size(), f)
	defer r.Close()
	if err := env.Comm.Upload(ctx, dst, r, st.Mode().Perm()); err != nil {
		return fmt.Errorf("uploading %s to %s: %w", src, dst, err)
	}
	return nil
}

func (p *Provisioner) download(ctx context.Context, env *plugin.ProvisionEnv, src string) error {
	dst := p.cfg.Destination
	env.UI.Say(fmt.Sprintf("Downloading %s => %s", src, dst))
	if strings.HasSuffix(src, "/") {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("creating local folder %s: %w", dst, err)
		}
		if err := env.Comm.DownloadDir(ctx, src, dst, nil); err != nil {
			return fmt.Errorf("downloading folder %s to %s: %w", src, dst, err)
		}
		return nil
	}
	if strings.HasSuffix(dst, "/") {
		dst = filepath.Join(dst, path.Base(src))
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("creating local folder for %s: %w", dst, err)
	}
	// Write to a temporary name so a failed download leaves no half file.
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", dst, err)
	}
	err = env.Comm.Download(ctx, src, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// The temporary file is 0600; the result gets the mode a plain
		// create gives (as Packer's download), or keeps the mode of the
		// file it replaces.
		mode := os.FileMode(0o644)
		if st, serr := os.Stat(dst); serr == nil {
			mode = st.Mode().Perm()
		}
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("downloading %s to %s: %w", src, dst, err)
	}
	return nil
}

var errNoComm = errors.New("the file provisioner needs a connection to the machine, but the source has none (communicator = \"none\", or a builder with no machine such as file): use shell-local, or set a communicator")
