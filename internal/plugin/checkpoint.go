package plugin

import "context"

// The step cache (imgbuild build -cache) needs three things from plugins,
// each an optional interface so that plugins without cache support need
// nothing.

// BaseIdentifier is implemented by builders that support -cache. It names
// the exact starting point beyond the configuration: the base image's
// digest, the source disk's checksum. Called after Prepare, before Run,
// only under -cache; ui is the build's (a docker builder pulls here).
type BaseIdentifier interface {
	BaseIdentity(ctx context.Context, ui UI) (string, error)
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

// Resume is set in BuildEnv whenever -cache is on for a builder that
// implements BaseIdentifier. With Ref set, the builder starts from that
// checkpoint instead of its base; with Ref empty nothing matched and the
// build starts cold, but its communicator will be asked to checkpoint.
type Resume struct {
	// Ref is the checkpoint's ref, as its Checkpointer returned it; empty
	// when no checkpoint matched.
	Ref string
	// Steps is how many provisioners the checkpoint already holds; the
	// orchestrator skips them.
	Steps int
	// Complete is true when every provisioner is cached: the builder should
	// produce its artifact from Ref without starting a machine where it can
	// (qemu: no VM boots), and env.Provision need not be called.
	Complete bool
	// LastKey is the key the build's last provisioner is checkpointed
	// under, "" when that one cannot be cached. A builder whose last
	// checkpoint lacks what happens after the provisioners (qemu: the
	// clean shutdown) can keep that state beside it once it saved LastKey.
	LastKey string
	// DataDir is where builders that keep checkpoint files (qemu layers)
	// write them, named by key; the cache removes them when pruning.
	DataDir string
	// VMStates is how many of the checkpoints before the build's last also
	// keep the
	// running machine's state (memory and devices), for builders that can
	// restore one instead of booting (qemu); 0 keeps none.
	VMStates int
	// Checkpoints is how many of the build's provisioners can be
	// checkpointed (the key chain's length): with Steps, it tells a
	// builder which checkpoints are the build's last.
	Checkpoints int
}

// LastCheckpointFinisher is implemented by cache-capable builders that
// add to the build's last checkpoint after the provisioners (qemu keeps
// the disk as the clean shutdown left it beside it, see Resume.LastKey):
// the shared cache then stores that checkpoint when the build ends. Every
// other builder's last checkpoint is stored as soon as it is made, while
// the builder makes its artifact.
type LastCheckpointFinisher interface {
	FinishesLastCheckpoint()
}

// CheckpointVerifier is implemented by cache-capable builders that can
// tell whether a checkpoint's ref still exists (an image someone removed
// by hand). The orchestrator treats a missing one as a cache miss.
type CheckpointVerifier interface {
	HasCheckpoint(ctx context.Context, ref string) (bool, error)
}

// CacheConfiger is implemented by cache-capable builders whose
// configuration holds options that do not change the machine's content
// (docker's changes, commit or export_path): CacheConfig returns what
// the root key covers instead of Config(), so changing those options
// does not invalidate the checkpoints.
type CacheConfiger interface {
	CacheConfig() any
}

// HostEffecter is implemented by provisioners that may change the host
// as well as the machine (the file provisioner downloading). A cached
// rebuild would skip that effect, so the cache ends before such a step.
// Provisioners that do not implement InputFiler end the cache too: what
// they read is unknown.
type HostEffecter interface {
	HostEffects() bool
}
