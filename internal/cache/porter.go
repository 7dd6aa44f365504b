package cache

import (
	"context"
	"errors"
	"io"
)

// A Porter moves a builder's checkpoints between machines as files (the
// shared cache, -cache-url). Each builder type that can share its
// checkpoints registers one.
type Porter interface {
	// Files returns the local files that hold e, by role ("layer",
	// "final", "image"; with s.SharesStates, also a saved machine
	// state); a role whose file does not exist is left out.
	// done, when not nil, removes what Files made to that end (an
	// exported image) once the files are stored.
	Files(ctx context.Context, s *Store, e Entry) (files map[string]string, done func(), err error)
	// Install makes the downloaded files (by role, in the store's data
	// folder under working names) into a checkpoint on this machine on
	// top of parent (the zero Entry for the first step), and returns its
	// Ref. It takes the files over: moved or removed.
	Install(ctx context.Context, s *Store, e, parent Entry, files map[string]string) (ref string, err error)
}

// A Stacker is a Porter whose checkpoints hold only what their step
// changed (qemu layers): one can be used only on the very parent it was
// made on, not on another runner's checkpoint of the same key (same
// inputs, different bytes). Install returns ErrDiverged when parent is
// not e's; the shared cache never stores a checkpoint on a parent it does
// not hold.
type Stacker interface {
	Porter
	StacksOnParent()
}

// UI is where a shared cache reports what it does.
type UI interface {
	Message(msg string)
	Error(msg string)
}

// A Chooser is a Porter that needs only some of a checkpoint's files on
// this runner: the others are not downloaded. deepest says whether the
// checkpoint is the last one a pull installs, the one a rebuild resumes
// from (qemu wants a VM state only then, and only when s shares states).
type Chooser interface {
	Porter
	Wants(s *Store, role string, deepest bool) bool
}

// A Streamer is a Porter that installs a checkpoint while its files
// download, reading each once, without writing them to disk first (docker
// load reads docker save's archive as it comes).
type Streamer interface {
	Porter
	// InstallStream is Install with the files given by open: the content
	// of the file of a role, verified as it is read. A damaged file is an
	// error from Read, never a clean end, and InstallStream must then fail
	// and leave nothing installed. It closes what it opens before it
	// returns.
	InstallStream(ctx context.Context, s *Store, e, parent Entry, open func(role string) (io.ReadCloser, error)) (ref string, err error)
}

// ErrDiverged is returned by a Stacker's Install for a checkpoint made on
// another copy of its parent.
var ErrDiverged = errors.New("made on another runner's copy of the step before it")

var porters = map[string]Porter{}

// RegisterPorter sets how checkpoints of a builder type are shared.
func RegisterPorter(builderType string, p Porter) {
	removersMu.Lock()
	defer removersMu.Unlock()
	porters[builderType] = p
}

// PorterFor returns the builder type's Porter, or nil.
func PorterFor(builderType string) Porter {
	removersMu.Lock()
	defer removersMu.Unlock()
	return porters[builderType]
}

// WithSalt returns the store keyed with another secret salt: a shared
// cache's, so that every runner computes the same keys. Entries and files
// stay in this store's directory.
func (s *Store) WithSalt(salt []byte) *Store {
	c := *s
	c.salt = append([]byte(nil), salt...)
	return &c
}

// WithSharedStates returns the store with the running machines' states
// that builders keep beside their checkpoints (qemu's VM memory, see
// -cache-vm-states) moving through the shared cache too (build
// -cache-share-vm-states). They are large and restorable only by the
// same emulator, so a porter leaves them out of its uploads and
// downloads (Chooser) unless the store says so. An option of the store rather
// than of the porter: porters are registered once per builder type,
// while the store is what every one of their calls is given.
func (s *Store) WithSharedStates() *Store {
	c := *s
	c.shareStates = true
	return &c
}

// SharesStates reports whether machine states go through the shared
// cache with their checkpoints.
func (s *Store) SharesStates() bool { return s.shareStates }
