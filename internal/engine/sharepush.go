package engine

import (
	"context"
	"sync"

	"github.com/imgbuild/imgbuild/internal/cache"
)

// sharePusher stores a build's checkpoints in the shared cache while the
// build goes on: each one as soon as it is made, one push at a time, so
// that uploading overlaps the next provisioners instead of following the
// build, and a runner waiting on this build's lease gets each checkpoint
// early.
type sharePusher struct {
	shared SharedCache
	local  *cache.Store
	keys   []cache.Key
	ui     cache.UI
	// holdLast keeps the chain's last checkpoint for finish: the builder
	// adds to it once the machine is shut down (qemu's disk after
	// shutdown, which a fully cached rebuild needs).
	holdLast bool

	mu   sync.Mutex
	made int // checkpoints made so far: keys[:made]

	wake chan struct{} // buffered: a pending "push what was made"
	stop chan struct{}
	done chan struct{}
}

func startSharePusher(ctx context.Context, shared SharedCache, local *cache.Store, keys []cache.Key, holdLast bool, u cache.UI) *sharePusher {
	p := &sharePusher{
		shared: shared, local: local, keys: keys, ui: u, holdLast: holdLast,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go p.loop(ctx)
	return p
}

func (p *sharePusher) loop(ctx context.Context) {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		case <-ctx.Done():
			return
		case <-p.wake:
			p.mu.Lock()
			n := p.made
			if p.holdLast {
				n = min(n, len(p.keys)-1)
			}
			p.mu.Unlock()
			p.shared.Push(ctx, p.local, p.keys[:n], p.ui)
		}
	}
}

// checkpointed says that the checkpoint of provisioner i (0-based) is in
// the local store.
func (p *sharePusher) checkpointed(i int) {
	p.mu.Lock()
	if i+1 > p.made {
		p.made = i + 1
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default: // a push is pending already; it will take this one too
	}
}

// finish waits for the push under way, then pushes whatever of the
// build's chain the shared cache still lacks (after a failure too: the
// steps before it are good checkpoints). Nothing is pushed once ctx is
// done: a cancelled build stops uploading.
func (p *sharePusher) finish(ctx context.Context) {
	close(p.stop)
	<-p.done
	if ctx.Err() == nil {
		p.shared.Push(ctx, p.local, p.keys, p.ui)
	}
}
