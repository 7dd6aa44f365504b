// Package ocicache keeps build checkpoints in an OCI registry
// (-cache-url oci://host:port/repository), where docker checkpoints are
// plain images: `docker pull host:port/repository:<key>` gives one.
//
// Tags in the repository:
//
//	imgbuild-salt  config: the 32 random bytes that key every runner's builds
//	<key>          the checkpoint image, as the engine pushed it
//	<key>.meta     config: the entry (builder, step, step name, created, the
//	               imgbuild that wrote it) and the digest of the image's
//	               manifest; written after the image
//	<key>.used     annotation org.imgbuild.last-used, rewritten on each
//	               download (prune --older-than counts from it)
//
// What it chose, and why:
//
//   - Images go through the Docker Engine (push, and pull by digest), not
//     through imgbuild: the engine has the layers, sends only those the
//     registry lacks, fetches only those it lacks, and verifies them. The
//     builder does that part (an Imager, registered per builder type, as
//     builders/docker does). Builders without one (qemu) keep their
//     checkpoints in the local cache, said once per build. An image holds
//     the whole machine: a runner pulls only the deepest checkpoint it
//     can use. The engine pushes each checkpoint as it is made.
//   - The cache's own records are small OCI manifests beside the images,
//     written through the registry's HTTP API: never labels on the image,
//     which would reach every container and image made from it.
//   - An entry is visible only complete: a registry stores a manifest only
//     once every blob it names is there, and <key>.meta is written after
//     the image's manifest, which it names by digest. Two runners pushing
//     one key at once (a registry has no conditional write) may leave
//     either one's records; each names its own image by digest, so what a
//     reader gets is consistent, and it is verified: the pulled image must
//     have the id (the digest of its configuration) the entry names.
//   - The salt is made by the first runner. Two first runners at once may
//     each write one; each reads back what the tag holds after writing, so
//     at worst a runner keys one build with a salt that is then lost: a
//     miss, never a wrong hit.
//   - No leases: without a conditional write a lease in a registry would
//     be a guess. oci:// does not wait for another runner building the
//     same step (-cache-wait has no effect): both build it, both push, one
//     entry stays. Use s3:// where that matters.
//   - cache prune deletes manifests (the registry must allow it: storage:
//     delete: enabled: true); the registry frees their layers only in its
//     own garbage collection (docker-registry garbage-collect).
//
// It never fails a build: the first error it cannot get past is reported
// once as a warning and the cache turns itself off for the rest of the run.
package ocicache

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"

	"github.com/imgbuild/imgbuild/internal/cache"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
)

// An Imager moves one builder type's checkpoints to and from a registry
// as images, through the Docker Engine.
type Imager interface {
	// PushImage pushes the local checkpoint e as name (host/repo:tag) and
	// returns the digest of the manifest the registry stored.
	PushImage(ctx context.Context, e cache.Entry, name string, login dockerengine.Login) (digest string, err error)
	// PullImage pulls name@digest, checks that it is the image e names
	// (ErrCorrupt when not), makes it e's checkpoint on this machine and
	// returns its local Ref.
	PullImage(ctx context.Context, e cache.Entry, name, digest string, login dockerengine.Login) (ref string, err error)
}

var (
	imagersMu sync.Mutex
	imagers   = map[string]Imager{}
)

// RegisterImager sets how checkpoints of a builder type go into a registry.
func RegisterImager(builderType string, im Imager) {
	imagersMu.Lock()
	defer imagersMu.Unlock()
	imagers[builderType] = im
}

func imagerFor(builderType string) Imager {
	imagersMu.Lock()
	defer imagersMu.Unlock()
	return imagers[builderType]
}

// ErrCorrupt is a record or image that is not what its entry says: it is
// skipped (the step is built again) and, in readwrite mode, its entry
// removed.
var ErrCorrupt = errors.New("damaged checkpoint")

// Meta is a checkpoint's entry in the registry (the config of <key>.meta).
type Meta struct {
	cache.Entry        // Ref is the image id
	Image       string `json:"image"` // the digest of the image's manifest
	Version     string `json:"imgbuild_version"`
}

const (
	saltTag        = "imgbuild-salt"
	saltType       = "application/vnd.imgbuild.salt.v1"
	metaType       = "application/vnd.imgbuild.checkpoint.v1+json"
	artifactType   = "application/vnd.imgbuild.checkpoint.v1"
	createdNote    = "org.opencontainers.image.created"
	lastUsedNote   = "org.imgbuild.last-used"
	metaSuffix     = ".meta"
	usedSuffix     = ".used"
	keyPattern     = `[0-9a-f]{64}`
	requestTimeout = 30 * time.Second
)

var metaTag = regexp.MustCompile(`^(` + keyPattern + `)\.meta$`)

// ParseURL splits oci://host[:port]/repository into the registry's host
// and the repository's name.
func ParseURL(raw string) (host, repo string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "oci" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%q is not an oci://host:port/repository URL", raw)
	}
	repo = strings.Trim(u.Path, "/")
	if repo == "" {
		return "", "", fmt.Errorf("%q names no repository: use oci://%s/REPOSITORY", raw, u.Host)
	}
	if _, err := reference.ParseNamed(u.Host + "/" + repo); err != nil || strings.ToLower(repo) != repo {
		return "", "", fmt.Errorf("%q: %q is not a repository name (lower-case letters, digits, and . _ - / between them)", raw, repo)
	}
	return u.Host, repo, nil
}

// Cache is the shared cache in one repository of a registry.
type Cache struct {
	reg     *registry
	url     string
	name    string // host/repo, for the engine
	write   bool   // -cache-mode readwrite
	version string // the imgbuild recorded in the entries it writes

	mu         sync.Mutex
	disabled   bool
	told       map[string]bool    // builder types said to stay local
	inRegistry map[cache.Key]bool // entries known to be in the registry
}

// Open connects to the registry at rawURL with the login docker's
// config.json holds or names for it (anonymous when none). write is false
// for -cache-mode read.
func Open(ctx context.Context, rawURL string, write bool, version string) (*Cache, error) {
	host, repo, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	creds, err := dockerCredentials(ctx, host)
	if err != nil {
		return nil, err
	}
	reg := newRegistry(host, repo, creds)
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := reg.connect(ctx); err != nil {
		return nil, err
	}
	return &Cache{reg: reg, url: rawURL, name: host + "/" + repo, write: write, version: version, told: map[string]bool{}, inRegistry: map[cache.Key]bool{}}, nil
}

// URL is the cache's oci:// URL.
func (c *Cache) URL() string { return c.url }

// Salt returns the cache's shared secret salt, making it when the cache is
// new (nil and no error for a new cache when create is false: -cache-mode
// read writes nothing).
func (c *Cache) Salt(ctx context.Context, create bool) ([]byte, error) {
	salt, err := c.readSalt(ctx)
	if err != nil || salt != nil || !create {
		return salt, err
	}
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	d, err := c.reg.putBlob(ctx, saltType, b)
	if err != nil {
		return nil, fmt.Errorf("writing the cache's salt: %w", err)
	}
	m := manifest{SchemaVersion: 2, MediaType: ociManifest, ArtifactType: saltType, Config: d, Layers: []descriptor{}}
	if _, err := c.reg.putManifest(ctx, saltTag, m); err != nil {
		return nil, fmt.Errorf("writing the cache's salt: %w", err)
	}
	// Another first runner may have written its own meanwhile: the tag's
	// is the one every later runner reads.
	salt, err = c.readSalt(ctx)
	if err == nil && salt == nil {
		err = errors.New("the salt written is not there")
	}
	return salt, err
}

func (c *Cache) readSalt(ctx context.Context) ([]byte, error) {
	m, _, err := c.reg.getManifest(ctx, saltTag)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err == nil {
		var b []byte
		if b, err = c.reg.getBlob(ctx, m.Config); err == nil && len(b) == 32 {
			return b, nil
		}
		if err == nil {
			err = fmt.Errorf("the salt is %d bytes, not 32", len(b))
		}
	}
	return nil, fmt.Errorf("reading the cache's salt (tag %s): %w", saltTag, err)
}

// off reports the error once and turns the cache off.
func (c *Cache) off(u cache.UI, what string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.disabled {
		return
	}
	c.disabled = true
	u.Error(fmt.Sprintf("Warning: the shared cache %s is not used for the rest of this build: %s: %s", c.url, what, err))
}

func (c *Cache) on() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.disabled
}

// Claim extends the local prefix keys[:have] with the checkpoints the
// registry holds (see Pull) and returns its new length. It takes no lease
// and never waits (see the package comment), so release is always nil.
func (c *Cache) Claim(ctx context.Context, local *cache.Store, keys []cache.Key, have int, _ time.Duration, u cache.UI) (int, func()) {
	return c.Pull(ctx, local, keys, have, u), nil
}

// Pull brings the checkpoints after keys[:have] that the registry holds
// into the local store and returns the new prefix length. An image holds
// the whole machine, so only the deepest stored checkpoint is pulled (the
// local cache needs no entry before it), or, when it is damaged, the
// deepest that is not.
func (c *Cache) Pull(ctx context.Context, local *cache.Store, keys []cache.Key, have int, u cache.UI) int {
	found := c.stored(ctx, keys[have:], u)
	for j := len(found) - 1; j >= 0; j-- {
		if !c.on() || ctx.Err() != nil {
			return have
		}
		err := c.pullOne(ctx, local, found[j], u)
		if err == nil {
			if c.write {
				// Those before it are used too, through it: prune
				// removes a checkpoint with every one after it.
				for _, m := range found[:j+1] {
					c.markUsed(ctx, m.Key) // a failure only ages it
				}
			}
			return have + j + 1
		}
		if !errors.Is(err, ErrCorrupt) {
			return have
		}
	}
	return have
}

// stored returns the registry's entries for keys, in order, up to the
// first one it lacks or cannot use.
func (c *Cache) stored(ctx context.Context, keys []cache.Key, u cache.UI) []Meta {
	var found []Meta
	for _, k := range keys {
		if !c.on() || ctx.Err() != nil {
			break
		}
		meta, ok, err := c.meta(ctx, k)
		if errors.Is(err, ErrCorrupt) {
			c.damaged(ctx, u, k, err)
			break
		}
		if err != nil {
			c.off(u, "reading entry "+k.Short(), err)
			break
		}
		if !ok || imagerFor(meta.Builder) == nil {
			break
		}
		found = append(found, meta)
	}
	return found
}

// pullOne pulls one checkpoint's image and records it in the local store.
// What goes wrong is said here; ErrCorrupt tells the caller that an
// earlier checkpoint may still do.
func (c *Cache) pullOne(ctx context.Context, local *cache.Store, meta Meta, u cache.UI) error {
	k := meta.Key
	u.Message(fmt.Sprintf("Downloading checkpoint %s (provisioner %d, %s) from %s", k.Short(), meta.Step, meta.StepName, c.url))
	ref, err := c.pullImage(ctx, imagerFor(meta.Builder), meta)
	if errors.Is(err, ErrCorrupt) {
		c.damaged(ctx, u, k, err)
		return err
	}
	if err != nil {
		if ctx.Err() == nil {
			c.off(u, "downloading checkpoint "+k.Short(), err)
		}
		return err
	}
	le := meta.Entry
	le.Ref = ref
	le.Created = time.Now().UTC()
	if err := local.Put(le); err != nil {
		u.Error(fmt.Sprintf("Recording the downloaded checkpoint %s: %s", k.Short(), err))
		return err
	}
	c.remember(k)
	return nil
}

// pullImage checks that the image the entry names is still stored (a
// pruned image is a damaged entry, not a registry that is down), then has
// the builder pull it.
func (c *Cache) pullImage(ctx context.Context, im Imager, meta Meta) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	ok, err := c.reg.hasManifest(rctx, meta.Image)
	cancel()
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: its image %s is not in the registry", ErrCorrupt, meta.Image)
	}
	return im.PullImage(ctx, meta.Entry, c.name, meta.Image, c.reg.creds.Login(c.reg.host))
}

// damaged reports a checkpoint that cannot be used and, in readwrite
// mode, removes its entry so that the rebuilt step is stored again.
func (c *Cache) damaged(ctx context.Context, u cache.UI, k cache.Key, err error) {
	u.Error(fmt.Sprintf("Warning: checkpoint %s in %s is damaged and is not used (the step runs again): %s", k.Short(), c.url, err))
	c.forget(k)
	if !c.write {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if _, d, gerr := c.reg.getManifest(rctx, string(k)+metaSuffix); gerr == nil {
		if derr := c.reg.deleteManifest(rctx, d); derr != nil {
			c.off(u, "removing the damaged entry "+k.Short(), derr)
		}
	}
}

// meta reads k's entry: found is false when there is none.
func (c *Cache) meta(ctx context.Context, k cache.Key) (Meta, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	m, _, err := c.reg.getManifest(ctx, string(k)+metaSuffix)
	if errors.Is(err, errNotFound) {
		return Meta{}, false, nil
	}
	if err != nil {
		return Meta{}, false, err
	}
	meta, err := c.readMeta(ctx, m)
	if err != nil {
		return Meta{}, false, err
	}
	if meta.Key != k {
		return Meta{}, false, fmt.Errorf("%w: entry %s.meta describes %s", ErrCorrupt, k.Short(), meta.Key.Short())
	}
	return meta, true, nil
}

func (c *Cache) readMeta(ctx context.Context, m manifest) (Meta, error) {
	if m.Config.MediaType != metaType {
		return Meta{}, fmt.Errorf("%w: an entry's manifest has config of type %q", ErrCorrupt, m.Config.MediaType)
	}
	b, err := c.reg.getBlob(ctx, m.Config)
	if err != nil {
		return Meta{}, err
	}
	var meta Meta
	if err := json.Unmarshal(b, &meta); err != nil {
		return Meta{}, fmt.Errorf("%w: an entry does not read: %v", ErrCorrupt, err)
	}
	if !validDigest.MatchString(meta.Image) {
		return Meta{}, fmt.Errorf("%w: entry %s names image %q", ErrCorrupt, meta.Key.Short(), meta.Image)
	}
	return meta, nil
}

// markUsed rewrites <key>.used with the time now, and deletes the
// manifest it named before.
func (c *Cache) markUsed(ctx context.Context, k cache.Key) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	meta, metaDigest, err := c.reg.getManifest(ctx, string(k)+metaSuffix)
	if err != nil {
		return
	}
	_, old, oldErr := c.reg.getManifest(ctx, string(k)+usedSuffix)
	m := manifest{SchemaVersion: 2, MediaType: ociManifest, ArtifactType: artifactType, Config: meta.Config, Layers: []descriptor{},
		Annotations: map[string]string{lastUsedNote: time.Now().UTC().Format(time.RFC3339Nano), "org.imgbuild.entry": metaDigest}}
	d, err := c.reg.putManifest(ctx, string(k)+usedSuffix, m)
	if err == nil && oldErr == nil && old != d {
		c.reg.deleteManifest(ctx, old)
	}
}

// Push stores the local checkpoints of keys, in order, that the registry
// lacks: the image first, then its entry. In read mode it does nothing.
// The engine pushes after each checkpoint; what is known stored is not
// asked about again.
func (c *Cache) Push(ctx context.Context, local *cache.Store, keys []cache.Key, u cache.UI) {
	if !c.write {
		return
	}
	for _, k := range keys {
		if !c.on() || ctx.Err() != nil {
			return
		}
		if c.known(k) {
			continue
		}
		le, ok, err := local.Get(k)
		if err != nil || !ok {
			// Not made here: pulled as the deepest of a stored chain
			// (so stored), or the chain ends.
			continue
		}
		im := imagerFor(le.Builder)
		if im == nil {
			c.stayLocal(u, le.Builder)
			return
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		found, err := c.reg.hasManifest(rctx, string(k)+metaSuffix)
		cancel()
		if err != nil {
			c.off(u, "reading entry "+k.Short(), err)
			return
		}
		if !found {
			if err := c.push(ctx, im, le); err != nil {
				if ctx.Err() == nil {
					c.off(u, "storing checkpoint "+k.Short(), err)
				}
				return
			}
			u.Message(fmt.Sprintf("Checkpoint %s (provisioner %d) shared in %s", k.Short(), le.Step, c.url))
		}
		c.remember(k)
	}
}

func (c *Cache) known(k cache.Key) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inRegistry[k]
}

func (c *Cache) remember(k cache.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inRegistry[k] = true
}

func (c *Cache) forget(k cache.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inRegistry, k)
}

func (c *Cache) stayLocal(u cache.UI, builderType string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.told[builderType] {
		return
	}
	c.told[builderType] = true
	u.Message(fmt.Sprintf("The %s builder's checkpoints stay in the local cache: %s holds only checkpoints that are images (docker); use an s3:// cache to share them", builderType, c.url))
}

// push stores one checkpoint: its image, then its entry naming the image
// by digest.
func (c *Cache) push(ctx context.Context, im Imager, le cache.Entry) error {
	digest, err := im.PushImage(ctx, le, c.name+":"+string(le.Key), c.reg.creds.Login(c.reg.host))
	if err != nil {
		return err
	}
	if !validDigest.MatchString(digest) {
		return fmt.Errorf("the engine reported the pushed image's digest as %q", digest)
	}
	b, err := json.Marshal(Meta{Entry: le, Image: digest, Version: c.version})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	d, err := c.reg.putBlob(ctx, metaType, b)
	if err != nil {
		return err
	}
	created := le.Created
	if created.IsZero() {
		created = time.Now()
	}
	m := manifest{SchemaVersion: 2, MediaType: ociManifest, ArtifactType: artifactType, Config: d, Layers: []descriptor{},
		Annotations: map[string]string{createdNote: created.UTC().Format(time.RFC3339Nano)}}
	_, err = c.reg.putManifest(ctx, string(le.Key)+metaSuffix, m)
	return err
}

// Listed is a stored checkpoint, for imgbuild cache ls and prune.
type Listed struct {
	Meta
	LastUsed               time.Time // written or last downloaded
	metaDigest, usedDigest string
}

// List returns every complete entry, oldest use first.
func (c *Cache) List(ctx context.Context) ([]Listed, error) {
	tags, err := c.reg.tags(ctx)
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for _, t := range tags {
		has[t] = true
	}
	var out []Listed
	for _, t := range tags {
		mk := metaTag.FindStringSubmatch(t)
		if mk == nil {
			continue
		}
		m, md, err := c.reg.getManifest(ctx, t)
		if errors.Is(err, errNotFound) {
			continue // pruned meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading entry %s: %w", t, err)
		}
		meta, err := c.readMeta(ctx, m)
		if errors.Is(err, ErrCorrupt) {
			meta = Meta{Entry: cache.Entry{Key: cache.Key(mk[1]), StepName: "(damaged)"}}
		} else if err != nil {
			return nil, fmt.Errorf("reading entry %s: %w", t, err)
		}
		l := Listed{Meta: meta, LastUsed: meta.Created, metaDigest: md}
		if ts, err := time.Parse(time.RFC3339Nano, m.Annotations[createdNote]); err == nil && l.LastUsed.IsZero() {
			l.LastUsed = ts
		}
		if has[mk[1]+usedSuffix] {
			if um, ud, err := c.reg.getManifest(ctx, mk[1]+usedSuffix); err == nil {
				l.usedDigest = ud
				if ts, err := time.Parse(time.RFC3339Nano, um.Annotations[lastUsedNote]); err == nil && ts.After(l.LastUsed) {
					l.LastUsed = ts
				}
			}
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.Before(out[j].LastUsed) })
	return out, nil
}

// Prune removes the entries last used before cutoff (all of them when
// cutoff is zero), with every entry built on one of them, and returns
// what it removed: the entry first, then the image and its last use. With
// cutoff zero it also removes checkpoint images no entry names (left by a
// runner killed between the image and its entry).
func (c *Cache) Prune(ctx context.Context, cutoff time.Time) ([]Listed, error) {
	all, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	doomed := map[cache.Key]bool{}
	parentOf := map[cache.Key]cache.Key{}
	for _, l := range all {
		if cutoff.IsZero() || l.LastUsed.Before(cutoff) {
			doomed[l.Key] = true
		}
		parentOf[l.Key] = l.Parent
	}
	cache.WithDescendants(doomed, parentOf)
	// Later steps first: a child goes before its parent.
	sort.SliceStable(all, func(i, j int) bool { return all[i].Step > all[j].Step })
	var removed []Listed
	var errs []error
	for _, l := range all {
		if !doomed[l.Key] {
			continue
		}
		if err := c.remove(ctx, l); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", l.Key.Short(), err))
			continue
		}
		removed = append(removed, l)
	}
	if cutoff.IsZero() && len(errs) == 0 {
		errs = append(errs, c.removeOrphans(ctx))
	}
	return removed, errors.Join(errs...)
}

func (c *Cache) remove(ctx context.Context, l Listed) error {
	for _, d := range []string{l.metaDigest, l.Image, l.usedDigest} {
		if d == "" {
			continue
		}
		if err := c.reg.deleteManifest(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// removeOrphans deletes the checkpoint images and last-use records that
// no entry names.
func (c *Cache) removeOrphans(ctx context.Context) error {
	tags, err := c.reg.tags(ctx)
	if err != nil {
		return err
	}
	has := map[string]bool{}
	for _, t := range tags {
		has[t] = true
	}
	orphan := regexp.MustCompile(`^(` + keyPattern + `)(\.used)?$`)
	for _, t := range tags {
		m := orphan.FindStringSubmatch(t)
		if m == nil || has[m[1]+metaSuffix] {
			continue
		}
		_, d, err := c.reg.getManifest(ctx, t)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err == nil {
			err = c.reg.deleteManifest(ctx, d)
		}
		if err != nil {
			return fmt.Errorf("removing %s: %w", t, err)
		}
	}
	return nil
}
