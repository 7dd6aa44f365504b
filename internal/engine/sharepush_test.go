package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/template"
)

// markingShared is a shared cache that records the chain length of each
// Push and, once a checkpoint was pushed, creates a marker file that a
// later provisioner of the same build waits for. whole is closed at the
// first push of a chain of wholeLen.
type markingShared struct {
	marker   string
	wholeLen int
	whole    chan struct{}
	mu       sync.Mutex
	pushes   []int
}

func newMarkingShared(t *testing.T, wholeLen int) *markingShared {
	return &markingShared{marker: filepath.Join(t.TempDir(), "pushed"), wholeLen: wholeLen, whole: make(chan struct{})}
}

func (m *markingShared) Claim(_ context.Context, _ *cache.Store, _ []cache.Key, have int, _ time.Duration, _ cache.UI) (int, func()) {
	return have, nil
}

func (m *markingShared) Push(_ context.Context, _ *cache.Store, keys []cache.Key, _ cache.UI) {
	m.mu.Lock()
	m.pushes = append(m.pushes, len(keys))
	if len(keys) == m.wholeLen && len(m.pushes) > 0 && !slices.Contains(m.pushes[:len(m.pushes)-1], m.wholeLen) {
		close(m.whole)
	}
	m.mu.Unlock()
	if len(keys) > 0 {
		os.WriteFile(m.marker, nil, 0o600)
	}
}

// finishingBuilder is a copyBuilder that says it completes its last
// checkpoint at the end of its build, as qemu does.
type finishingBuilder struct{ *copyBuilder }

func (finishingBuilder) FinishesLastCheckpoint() {}

// awaitingBuilder is a copyBuilder whose build ends only once the whole
// chain was pushed (5 s at most, then it fails).
type awaitingBuilder struct {
	*copyBuilder
	shared *markingShared
}

func (b awaitingBuilder) Run(ctx context.Context, env *plugin.BuildEnv) (plugin.Artifact, error) {
	art, err := b.copyBuilder.Run(ctx, env)
	if err != nil {
		return nil, err
	}
	select {
	case <-b.shared.whole:
		return art, nil
	case <-time.After(5 * time.Second):
		return nil, errors.New("the last checkpoint was not shared while the builder made its artifact")
	}
}

// sharePlan is a build of three cached steps; the second waits (5 s at
// most) for the first checkpoint to be pushed and fails otherwise.
func sharePlan(b plugin.Builder, shared *markingShared) *template.BuildPlan {
	waitForPush := "i=0; while [ ! -e " + shared.marker + " ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; test -e " + shared.marker
	return &template.BuildPlan{Name: "test.c", SourceType: "copy", SourceName: "c", Builder: b, Provisioners: []*template.ProvisionerPlan{
		shellPlan("echo 1 > a"), shellPlan(waitForPush, "echo 2 > b"), shellPlan("echo 3 > c"),
	}}
}

// A checkpoint is shared while the build goes on, not after it: the
// second provisioner waits for the first checkpoint's push. For a builder
// that completes its last checkpoint at the end (qemu), the chain's last
// checkpoint is pushed only when the build ends.
func TestCheckpointsAreSharedWhileTheBuildGoesOnAndTheLastAtItsEnd(t *testing.T) {
	store, _ := cache.Open(t.TempDir())
	b := finishingBuilder{&copyBuilder{root: t.TempDir(), store: store}}
	shared := newMarkingShared(t, 3)
	buf := &syncBuffer{}
	res := runner(buf, func(o *Options) { o.Cache = store; o.Shared = shared }).Run(context.Background(), []*template.BuildPlan{sharePlan(b, shared)})[0]
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

// A builder that does not complete its last checkpoint at the end
// (docker) has it shared as soon as it is made, while the builder makes
// its artifact: its build here ends only once the whole chain is pushed.
func TestTheLastCheckpointIsSharedBeforeTheBuilderEndsUnlessItCompletesIt(t *testing.T) {
	store, _ := cache.Open(t.TempDir())
	shared := newMarkingShared(t, 3)
	b := awaitingBuilder{&copyBuilder{root: t.TempDir(), store: store}, shared}
	buf := &syncBuffer{}
	res := runner(buf, func(o *Options) { o.Cache = store; o.Shared = shared }).Run(context.Background(), []*template.BuildPlan{sharePlan(b, shared)})[0]
	if res.Err != nil {
		t.Fatalf("%v\n%s", res.Err, buf.String())
	}
}
