// Package manifest is Packer's "manifest" post-processor: it records each
// build's artifact (id, files, time) in a JSON file that grows across runs.
package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/internal/filelock"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
)

func init() {
	plugin.RegisterPostProcessor("manifest", func() plugin.PostProcessor { return &PostProcessor{} })
}

// Config holds the manifest's options, named as Packer's.
type Config struct {
	Output     string            `hcl:"output,optional"`
	StripPath  bool              `hcl:"strip_path,optional"`
	StripTime  bool              `hcl:"strip_time,optional"`
	CustomData map[string]string `hcl:"custom_data,optional"`
}

// File is one file of an artifact.
type File struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Build is one entry of the manifest, in Packer's shape.
type Build struct {
	Name          string            `json:"name"`
	BuilderType   string            `json:"builder_type"`
	BuildTime     int64             `json:"build_time,omitempty"`
	Files         []File            `json:"files"`
	ArtifactID    string            `json:"artifact_id"`
	PackerRunUUID string            `json:"packer_run_uuid"`
	CustomData    map[string]string `json:"custom_data"`
}

// Manifest is the whole file.
type Manifest struct {
	Builds      []Build `json:"builds"`
	LastRunUUID string  `json:"last_run_uuid"`
}

// PostProcessor writes the manifest.
type PostProcessor struct{ cfg Config }

// Config returns the options to decode into.
func (p *PostProcessor) Config() any { return &p.cfg }

// Prepare fills Packer's default output name.
func (p *PostProcessor) Prepare() ([]string, error) {
	if p.cfg.Output == "" {
		p.cfg.Output = "packer-manifest.json"
	}
	return nil, nil
}

// PostProcess appends this build to the manifest and passes the artifact on.
func (p *PostProcessor) PostProcess(ctx context.Context, env *plugin.PostProcessEnv, in plugin.Artifact) (plugin.Artifact, bool, bool, error) {
	entry := Build{
		Name:          env.SourceName,
		BuilderType:   env.SourceType,
		ArtifactID:    secret.Mask(in.ID()),
		PackerRunUUID: env.RunUUID,
		Files:         []File{},
	}
	if !p.cfg.StripTime {
		entry.BuildTime = env.BuildTimeUnix
	}
	if len(p.cfg.CustomData) > 0 {
		entry.CustomData = map[string]string{}
		for k, v := range p.cfg.CustomData {
			entry.CustomData[k] = secret.Mask(v)
		}
	}
	for _, f := range in.Files() {
		var size int64
		if st, err := os.Stat(f); err == nil {
			size = st.Size()
		}
		name := f
		if p.cfg.StripPath {
			name = filepath.Base(f)
		}
		entry.Files = append(entry.Files, File{Name: secret.Mask(name), Size: size})
	}
	env.UI.Say(fmt.Sprintf("Writing the build to manifest %s", p.cfg.Output))
	if err := appendBuild(p.cfg.Output, env.RunUUID, entry); err != nil {
		return nil, false, false, err
	}
	// The manifest only records: the artifact passes through untouched.
	return in, true, true, nil
}

func appendBuild(path, runUUID string, entry Build) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("resolving manifest path %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("creating the manifest's folder: %w", err)
	}
	// Builds of this and of other imgbuild processes take turns at the
	// read-modify-rename. The lock is on the folder: the manifest is
	// replaced by rename (its own lock would stay with the old file), and
	// no lock file is left beside it.
	unlock, err := filelock.Lock(filepath.Dir(abs))
	if err != nil {
		return fmt.Errorf("waiting for the manifest %s: %w", path, err)
	}
	defer unlock()

	var m Manifest
	data, err := os.ReadFile(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading the existing manifest %s: %w", path, err)
	case len(data) > 0:
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("the existing manifest %s is not valid JSON (fix or delete it): %w", path, err)
		}
	}
	m.Builds = append(m.Builds, entry)
	m.LastRunUUID = runUUID
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "<sensitive>" stays readable
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("encoding the manifest: %w", err)
	}
	// Write then rename, so an interrupted run never leaves half a manifest.
	tmp, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing the manifest %s: %w", path, err)
	}
	_, err = tmp.Write(buf.Bytes())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), abs)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the manifest %s: %w", path, err)
	}
	return nil
}
