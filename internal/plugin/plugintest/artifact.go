// Package plugintest has what tests of plugins share: an artifact to hand
// a post-processor without running a builder.
package plugintest

import "context"

// Artifact is an artifact as a builder hands it on: an id, and the files
// it made (none for an image in an engine or a cloud).
type Artifact struct {
	Builder string // the builder's id; "imgbuild.test" when empty
	Name    string // what ID and String return
	Paths   []string
}

func (a *Artifact) BuilderID() string {
	if a.Builder == "" {
		return "imgbuild.test"
	}
	return a.Builder
}
func (a *Artifact) ID() string                    { return a.Name }
func (a *Artifact) Files() []string               { return a.Paths }
func (a *Artifact) String() string                { return a.Name }
func (a *Artifact) State(string) any              { return nil }
func (a *Artifact) Destroy(context.Context) error { return nil }
