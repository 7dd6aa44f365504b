package plugin

import "context"

// The step cache (imgbuild build -cache) needs three things from plugins,
// each an optional interface so that plugins without cache support need
// nothing.

// BaseIdentifier is implemented by builders that support -cache. It names
// the exact starting point beyond the configuration: the base image's
// digest, the source disk's checksum. Called after Prepare, before Run.
type BaseIdentifier interface {
	BaseIdentity(ctx context.Context) (string, error)
}

// Checkpointer is implemented by the communicator a cache-capable builder
// hands to env.Provision. Between provisioners the orchestrator asks it to
// save the machine's state under key; ref is what the builder needs to
// resume there later (an image id, a layer file), size its disk use.
type Checkpointer interface {
	Checkpoint(ctx context.Context, key string) (ref string, size int64, err error)
}

// InputFiler is implemented by provisioners whose result depends on local
// files (scripts, uploads). Their content is part of the cache key.
type InputFiler interface {
	InputFiles() []string
}

// Resume tells a builder to start from a checkpoint instead of its base.
type Resume struct {
	// Ref is the checkpoint's ref, as its Checkpointer returned it.
	Ref string
	// Steps is how many provisioners the checkpoint already holds; the
	// orchestrator skips them.
	Steps int
	// Complete is true when every provisioner is cached: the builder should
	// produce its artifact from Ref without starting a machine where it can
	// (qemu: no VM boots), and env.Provision need not be called.
	Complete bool
}
