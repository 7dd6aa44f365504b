package cache

import "context"

// A Porter moves a builder's checkpoints between machines as files (the
// shared cache, -cache-url). Each builder type that can share its
// checkpoints registers one.
type Porter interface {
	// Files returns the local files that hold e, by role ("layer",
	// "final", "image"); a role whose file does not exist is left out.
	// done, when not nil, removes what Files made to that end (an
	// exported image) once the files are stored.
	Files(ctx context.Context, s *Store, e Entry) (files map[string]string, done func(), err error)
	// Install makes the downloaded files (by role, in the store's data
	// folder under working names) into a checkpoint on this machine on
	// top of parent (the zero Entry for the first step), and returns its
	// Ref. It takes the files over: moved or removed.
	Install(ctx context.Context, s *Store, e, parent Entry, files map[string]string) (ref string, err error)
}

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
