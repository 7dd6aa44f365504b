package engine

import (
	"context"
	"time"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// SharedCache is the cache every runner shares (-cache-url) behind the
// local one: an S3 bucket (internal/cache/remote) or an OCI registry. It
// never fails a build: what goes wrong is reported on u and the build
// goes on with the local cache.
type SharedCache interface {
	// Claim extends the local prefix keys[:have] with the checkpoints the
	// shared cache holds and returns its new length. In readwrite mode it
	// may also take the lease on the first step no runner stored, or wait
	// (at most maxWait) for the runner that holds it; release, when not
	// nil, gives the lease up once the build has pushed its checkpoints.
	Claim(ctx context.Context, local *cache.Store, keys []cache.Key, have int, maxWait time.Duration, u cache.UI) (n int, release func())
	// Push stores the local checkpoints of keys, in order, that the shared
	// cache lacks (nothing in read mode).
	Push(ctx context.Context, local *cache.Store, keys []cache.Key, u cache.UI)
}
