package engine

import (
	"context"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// fixedBuilder returns an artifact without a machine (post-processor tests).
type fixedBuilder struct{ make func() *testArtifact }

func (b *fixedBuilder) Config() any                { return b }
func (b *fixedBuilder) Prepare() ([]string, error) { return nil, nil }
func (b *fixedBuilder) Run(context.Context, *plugin.BuildEnv) (plugin.Artifact, error) {
	return b.make(), nil
}
