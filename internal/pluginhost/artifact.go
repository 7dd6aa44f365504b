package pluginhost

import (
	"context"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// remoteArtifact is an artifact a plugin made (its builder's or
// post-processor's), as imgbuild's post-processors and summary see it.
// Its methods are calls into the plugin's process, which the host keeps
// running until the command ends.
type remoteArtifact struct {
	remote packersdk.Artifact
	proc   *process
}

var _ plugin.Artifact = (*remoteArtifact)(nil)

func (a *remoteArtifact) BuilderID() string     { return a.remote.BuilderId() }
func (a *remoteArtifact) ID() string            { return a.remote.Id() }
func (a *remoteArtifact) Files() []string       { return a.remote.Files() }
func (a *remoteArtifact) String() string        { return a.remote.String() }
func (a *remoteArtifact) State(name string) any { return a.remote.State(name) }

// Destroy asks the plugin to delete its artifact.
func (a *remoteArtifact) Destroy(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- a.remote.Destroy() }()
	select {
	case err := <-done:
		if err != nil {
			return a.proc.callError(err)
		}
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// localArtifact is one of imgbuild's artifacts (a native builder's or
// post-processor's) as a plugin post-processor sees it.
type localArtifact struct{ a plugin.Artifact }

var _ packersdk.Artifact = localArtifact{}

// sdkArtifact serves in to a plugin; an artifact that came from a plugin
// goes back as the plugin's own.
func sdkArtifact(in plugin.Artifact) packersdk.Artifact {
	if r, ok := in.(*remoteArtifact); ok {
		return r.remote
	}
	return localArtifact{in}
}

func (l localArtifact) BuilderId() string     { return l.a.BuilderID() }
func (l localArtifact) Files() []string       { return l.a.Files() }
func (l localArtifact) Id() string            { return l.a.ID() }
func (l localArtifact) String() string        { return l.a.String() }
func (l localArtifact) State(name string) any { return l.a.State(name) }

// Destroy deletes the artifact for a plugin that does not keep its input;
// the protocol has no context for it, so it is bounded here.
func (l localArtifact) Destroy() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return l.a.Destroy(ctx)
}
