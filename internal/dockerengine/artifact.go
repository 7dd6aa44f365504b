package dockerengine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// Builder ids, as Packer's docker plugin names them: post-processors check
// them to know what they are given. Packer gives a committed image the id
// of docker-import (both are an image in the local engine), and an
// exported tarball the builder's own id.
const (
	BuilderIDExport = "packer.docker"
	BuilderIDImage  = "packer.post-processor.docker-import"
	BuilderIDTag    = "packer.post-processor.docker-tag"
)

// ImageArtifact is an image in the local engine, named by id
// ("sha256:...") or by reference ("repo:tag").
type ImageArtifact struct {
	BuilderIDValue string
	Ref            string
	// Tags are the references docker-tag made (Packer's "docker_tags").
	Tags      []string
	Generated plugin.GeneratedData
	// Shared is set on an image an earlier build committed, which a fully
	// cached rebuild reuses: names other builds gave it may refer to it,
	// so Destroy leaves it while any name does.
	Shared bool
}

func (a *ImageArtifact) BuilderID() string { return a.BuilderIDValue }
func (a *ImageArtifact) ID() string        { return a.Ref }
func (a *ImageArtifact) Files() []string   { return nil }
func (a *ImageArtifact) String() string    { return "Imported Docker image: " + a.Ref }

func (a *ImageArtifact) State(name string) any {
	switch name {
	case "docker_tags":
		return a.Tags
	case "generated_data":
		return a.Generated
	}
	return nil
}

// Destroy removes the image reference (or the image, when Ref is an id
// and nothing else refers to it). An image already gone is not an error.
func (a *ImageArtifact) Destroy(ctx context.Context) error {
	cli, err := Connect(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if a.Shared {
		info, err := cli.ImageInspect(ctx, a.Ref)
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("inspecting image %s: %w", a.Ref, err)
		}
		if len(info.RepoTags) > 0 {
			return nil // another build's artifact too
		}
	}
	if _, err := cli.ImageRemove(ctx, a.Ref, image.RemoveOptions{PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("removing image %s: %w", a.Ref, err)
	}
	return nil
}

// FileArtifact is a container exported to a tarball (export_path), or
// nothing at all when Path is empty (discard).
type FileArtifact struct {
	Path      string
	Generated plugin.GeneratedData
}

func (a *FileArtifact) BuilderID() string { return BuilderIDExport }
func (a *FileArtifact) ID() string        { return a.Path }

func (a *FileArtifact) Files() []string {
	if a.Path == "" {
		return nil
	}
	return []string{a.Path}
}

func (a *FileArtifact) String() string {
	if a.Path == "" {
		return "Container discarded"
	}
	return "Exported Docker file: " + a.Path
}

func (a *FileArtifact) State(name string) any {
	if name == "generated_data" {
		return a.Generated
	}
	return nil
}

func (a *FileArtifact) Destroy(context.Context) error {
	if a.Path == "" {
		return nil
	}
	if err := os.Remove(a.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", a.Path, err)
	}
	return nil
}
