package engine

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/template"
)

// markingShared is a shared cache that records the chain length of each
// Push and, once a checkpoint was pushed, creates a marker file that a
// later provisioner of the same build waits for.
type markingShared struct {
	marker string
	mu     sync.Mutex
	pushes []int
}

func (m *markingShared) Claim(_ context.Context, _ *cache.Store, _ []cache.Key, have int, _ time.Duration, _ cache.UI) (int, func()) {
	return have, nil
}

func (m *markingShared) Push(_ context.Context, _ *cache.Store, keys []cache.Key, _ cache.UI) {
	m.mu.Lock()
	m.pushes = append(m.pushes, len(keys))
	m.mu.Unlock()
	if len(keys) > 0 {
		os.WriteFile(m.marker, nil, 0o600)
	}
}

// A checkpoint is shared while the build goes on, not after it: the
// second provisioner waits (5 s at most) for the first checkpoint to be
// pushed and fails otherwise. The chain's last checkpoint is pushed only
// when the build ends (a builder may complete it at shutdown).
func TestCheckpointsAreSharedWhileTheBuildGoesOnAndTheLastAtItsEnd(t *testing.T) {
	store, _ := cache.Open(t.TempDir())
	b := &copyBuilder{root: t.TempDir(), store: store}
	shared := &markingShared{marker: filepath.Join(t.TempDir(), "pushed")}
	waitForPush := "i=0; while [ ! -e " + shared.marker + " ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; test -e " + shared.marker
	plan := &template.BuildPlan{Name: "test.c", SourceType: "copy", SourceName: "c", Builder: b, Provisioners: []*template.ProvisionerPlan{
		shellPlan("echo 1 > a"), shellPlan(waitForPush, "echo 2 > b"), shellPlan("echo 3 > c"),
	}}
	buf := &syncBuffer{}
	res := runner(buf, func(o *Options) { o.Cache = store; o.Shared = shared }).Run(context.Background(), []*template.BuildPlan{plan})[0]
	if res.Err != nil {
		t.Fatalf("the build failed (the first checkpoint was not shared while provisioner 2 ran?): %v\n%s", res.Err, buf.String())
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	n := len(shared.pushes)
	if n < 2 || shared.pushes[n-1] != 3 {
		t.Fatalf("pushes of chain lengths %v: want background pushes, then the whole chain of 3 at the end", shared.pushes)
	}
	for _, l := range shared.pushes[:n-1] {
		if l > 2 {
			t.Errorf("pushes of chain lengths %v: the last checkpoint was pushed before the build ended", shared.pushes)
		}
	}
}
