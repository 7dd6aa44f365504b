package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/template"
)

// buildCache is the step cache's view of one build (-cache): the key of
// each provisioner that can be cached, in order, and how many of them the
// builder restores from a checkpoint.
type buildCache struct {
	store *cache.Store
	// keys[i] is provisioner i's key. The chain ends early at a
	// provisioner that cannot be keyed (see cacheKeys).
	keys     []cache.Key
	base     string // the digest the builder's BaseIdentity starts with, recorded in each entry
	restored int
	// said is set once the restored steps were announced.
	said bool
	// release gives up the shared cache's lease on the first step this
	// build makes (nil when it holds none); called when the build ends.
	release func()
	// pusher stores the checkpoints in the shared cache as they are made
	// (nil without -cache-url).
	pusher *sharePusher
	// noCheckpoint is set after the communicator turned out unable to
	// checkpoint, so the warning is given once.
	noCheckpoint bool
}

// placeholderPrefix stands in for build.* values when a provisioner is
// configured for its key: the real values (container id, address) change
// every run, and a key must not.
const placeholderPrefix = "imgbuild-cache-placeholder:build."

// planCache computes the build's keys and finds the longest cached prefix.
// Any reason the cache cannot be used is said and the build runs from
// scratch: the cache must never make a build fail.
func (b *buildRun) planCache(ctx context.Context, store *cache.Store) (*buildCache, *plugin.Resume) {
	p, u := b.plan, b.ui
	bi, ok := p.Builder.(plugin.BaseIdentifier)
	if !ok {
		u.Say(fmt.Sprintf("The %s builder does not support -cache: every provisioner runs.", p.SourceType))
		return nil, nil
	}
	keys, base, why := cacheKeys(ctx, store, p, bi, u)
	if why != "" {
		u.Say("Cache: " + why)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	bc := &buildCache{store: store, keys: keys, base: baseDigest(base)}
	cold := &plugin.Resume{DataDir: store.DataDir(), VMStates: b.opts.CacheVMStates, Checkpoints: len(keys)}
	if len(keys) == len(p.Provisioners) {
		cold.LastKey = string(keys[len(keys)-1])
	}
	n, last, err := store.LongestPrefix(keys)
	if err != nil {
		u.Error(fmt.Sprintf("Reading the cache (%s): %s; every provisioner runs", store.Dir(), err))
		return bc, cold
	}
	verifier, _ := p.Builder.(plugin.CheckpointVerifier)
	for n > 0 {
		if last.Builder == p.SourceType && checkpointExists(ctx, verifier, last.Ref) {
			break
		}
		u.Message(fmt.Sprintf("Checkpoint %s (provisioner %d) is gone; it will be made again", last.Key.Short(), n))
		if n, last, err = store.LongestPrefix(keys[:n-1]); err != nil {
			n = 0
		}
	}
	if shared := b.opts.Shared; shared != nil && n < len(keys) {
		var m int
		m, bc.release = shared.Claim(ctx, store, keys, n, b.opts.CacheWait, u)
		if m > n {
			if e, ok, err := store.Get(keys[m-1]); err == nil && ok {
				n, last = m, e
			}
		}
	}
	if n == 0 {
		return bc, cold
	}
	bc.restored = n
	cold.Ref, cold.Steps, cold.Complete = last.Ref, n, n == len(p.Provisioners)
	return bc, cold
}

func checkpointExists(ctx context.Context, v plugin.CheckpointVerifier, ref string) bool {
	if v == nil {
		return true
	}
	ok, err := v.HasCheckpoint(ctx, ref)
	return err == nil && ok
}

// cacheKeys returns the key chain: the root from the builder, then one key
// per provisioner until one cannot be keyed, with the reason it stopped.
func cacheKeys(ctx context.Context, store *cache.Store, p *template.BuildPlan, bi plugin.BaseIdentifier, u plugin.UI) (keys []cache.Key, base, why string) {
	base, err := bi.BaseIdentity(ctx, u)
	if err != nil {
		return nil, "", fmt.Sprintf("cannot identify the base (%s); every provisioner runs", err)
	}
	cfg := p.Builder.Config()
	if cc, ok := p.Builder.(plugin.CacheConfiger); ok {
		cfg = cc.CacheConfig()
	}
	src, err := json.Marshal(cfg)
	if err != nil {
		return nil, "", fmt.Sprintf("cannot serialise the %s configuration (%s); every provisioner runs", p.SourceType, err)
	}
	key := store.Root(p.SourceType, src, base)

	gen := plugin.GeneratedData{}
	genKeys := plugin.CommonGeneratedKeys
	if gk, ok := p.Builder.(plugin.GeneratedKeyser); ok {
		genKeys = append(genKeys[:len(genKeys):len(genKeys)], gk.GeneratedKeys()...)
	}
	for _, k := range genKeys {
		gen[k] = placeholderPrefix + k
	}
	for i, pp := range p.Provisioners {
		label := provisionerLabel(pp)
		stop := func(why string) ([]cache.Key, string, string) {
			return keys, base, fmt.Sprintf("provisioner %d (%s) %s: it and the ones after it are not cached", i+1, label, why)
		}
		config, inputs, why := provisionerKeyInput(pp, gen)
		if why != "" {
			return stop(why)
		}
		next, err := key.Next(pp.Type, config, inputs)
		if err != nil {
			return stop(err.Error())
		}
		keys = append(keys, next)
		key = next
	}
	return keys, base, ""
}

// provisionerKeyInput configures the provisioner as it will run (with
// placeholder build.* values) and returns its serialised configuration
// and the local files it reads, or why it cannot be cached.
//
// Some defaults are random (a remote script name): the block is
// configured three times and the options that differ are left out of the
// key, since they differ from run to run anyway. Three, not two: a default
// drawn from n values agrees in two draws one time in n (one in 9999
// for a name like Packer's script_%d.sh, a key that misses the cache on
// the next run), in three one time in n².
func provisionerKeyInput(pp *template.ProvisionerPlan, gen plugin.GeneratedData) ([]byte, []string, string) {
	if pp.Configure == nil {
		return nil, nil, "cannot be configured"
	}
	var configs [3]map[string]any
	var prov plugin.Provisioner
	for i := range configs {
		pr, diags := pp.Configure(maps.Clone(gen))
		if diags.HasErrors() {
			return nil, nil, "cannot be configured before the machine runs (" + diags.Error() + ")"
		}
		raw, err := json.Marshal(pr.Config())
		if err != nil {
			return nil, nil, "has a configuration that cannot be serialised (" + err.Error() + ")"
		}
		if err := json.Unmarshal(raw, &configs[i]); err != nil || configs[i] == nil {
			configs[i] = map[string]any{"": string(raw)}
		}
		prov = pr
	}
	for k, v := range configs[0] {
		if !reflect.DeepEqual(v, configs[1][k]) || !reflect.DeepEqual(v, configs[2][k]) {
			delete(configs[0], k)
		}
	}
	config, err := json.Marshal(configs[0]) // map keys come out sorted
	if err != nil {
		return nil, nil, "has a configuration that cannot be serialised (" + err.Error() + ")"
	}
	if he, ok := prov.(plugin.HostEffecter); ok && he.HostEffects() {
		return nil, nil, "changes the host too (a download)"
	}
	inf, ok := prov.(plugin.InputFiler)
	if !ok {
		return nil, nil, "does not say which local files it reads"
	}
	return config, inf.InputFiles(), ""
}

// sayRestored announces the provisioners restored from the cache, once.
func (b *buildRun) sayRestored() {
	bc := b.cache
	if bc == nil || bc.said {
		return
	}
	bc.said = true
	for i := range bc.restored {
		b.ui.Say(fmt.Sprintf("Provisioner %d (%s) restored from cache %s", i+1, provisionerLabel(b.plan.Provisioners[i]), bc.keys[i].Short()))
	}
}

// checkpoint saves the machine after provisioner i succeeded. A failure
// is said but does not fail the build: the step just is not cached.
func (b *buildRun) checkpoint(ctx context.Context, comm communicator.Communicator, i int) {
	bc := b.cache
	if bc == nil || i >= len(bc.keys) || bc.noCheckpoint {
		return
	}
	cp, ok := comm.(plugin.Checkpointer)
	if !ok {
		bc.noCheckpoint = true
		b.ui.Say(fmt.Sprintf("Cache: the %s builder's communicator cannot save checkpoints; nothing is cached", b.plan.SourceType))
		return
	}
	key := bc.keys[i]
	label := provisionerLabel(b.plan.Provisioners[i])
	ref, size, err := cp.Checkpoint(ctx, string(key))
	if err != nil {
		b.ui.Error(fmt.Sprintf("Saving the checkpoint after provisioner %d (%s) failed (the build goes on; a rebuild runs this step again): %s", i+1, label, err))
		return
	}
	e := cache.Entry{
		Key:      key,
		Template: b.opts.Template,
		Build:    b.plan.Name,
		Step:     i + 1,
		StepName: label,
		Builder:  b.plan.SourceType,
		Ref:      ref,
		Size:     size,
		Base:     bc.base,
	}
	if i > 0 {
		e.Parent = bc.keys[i-1]
	}
	// A checkpoint made again for a key (its entry's ref was gone)
	// replaces the old one: what the old ref still holds goes.
	if old, ok, _ := bc.store.Get(key); ok && old.Ref != ref {
		if err := bc.store.Remove(ctx, old); err != nil {
			b.ui.Error(fmt.Sprintf("Removing the replaced checkpoint %s: %s", key.Short(), err))
		}
	}
	if err := bc.store.Put(e); err != nil {
		b.ui.Error(fmt.Sprintf("Recording checkpoint %s in %s failed (a rebuild runs this step again): %s", key.Short(), bc.store.Dir(), err))
		return
	}
	b.ui.Message(fmt.Sprintf("Provisioner %d (%s) saved to cache %s", i+1, label, key.Short()))
	if bc.pusher != nil {
		bc.pusher.checkpointed(i)
	}
}

var leadingDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}\b`)

// baseDigest is the digest a base identity starts with (docker's image
// id, qemu's source checksum), or "". Only that is recorded in cache
// entries, which the shared cache lets anyone with the bucket read: the
// rest of an identity may name more (a checksum file's URL).
func baseDigest(identity string) string {
	return leadingDigest.FindString(identity)
}

// provisionerLabel names a provisioner block in cache messages: its
// type, and its name when it has one.
func provisionerLabel(p *template.ProvisionerPlan) string {
	if p.Name != "" {
		return fmt.Sprintf("%s %q", p.Type, p.Name)
	}
	return p.Type
}
