package plugin

import (
	"fmt"
	"sort"
	"sync"

	"github.com/zclconf/go-cty/cty/function"
)

// registry maps a Packer type name to a constructor.
type registry[T any] struct {
	mu    sync.RWMutex
	kind  string
	items map[string]func() T
}

func newRegistry[T any](kind string) *registry[T] {
	return &registry[T]{kind: kind, items: map[string]func() T{}}
}

func (r *registry[T]) register(name string, f func() T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.items[name]; dup {
		panic(fmt.Sprintf("plugin: %s %q registered twice", r.kind, name))
	}
	r.items[name] = f
}

func (r *registry[T]) lookup(name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.items[name]
	if !ok {
		var zero T
		return zero, false
	}
	return f(), true
}

func (r *registry[T]) has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.items[name]
	return ok
}

func (r *registry[T]) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.items))
	for n := range r.items {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var (
	builders       = newRegistry[Builder]("builder")
	provisioners   = newRegistry[Provisioner]("provisioner")
	postProcessors = newRegistry[PostProcessor]("post-processor")
	dataSources    = newRegistry[DataSource]("data source")
	functions      = map[string]function.Function{}
	functionsMu    sync.Mutex
)

// RegisterBuilder makes a builder available under its Packer type name.
// Call it from the plugin package's init.
func RegisterBuilder(name string, f func() Builder) { builders.register(name, f) }

// RegisterProvisioner makes a provisioner available under its type name.
func RegisterProvisioner(name string, f func() Provisioner) { provisioners.register(name, f) }

// RegisterPostProcessor makes a post-processor available under its type name.
func RegisterPostProcessor(name string, f func() PostProcessor) { postProcessors.register(name, f) }

// RegisterDataSource makes a data source available under its type name.
func RegisterDataSource(name string, f func() DataSource) { dataSources.register(name, f) }

// RegisterFunction adds an HCL function that a plugin provides (for
// example aws_secretsmanager from the amazon plugin).
func RegisterFunction(name string, f function.Function) {
	functionsMu.Lock()
	defer functionsMu.Unlock()
	functions[name] = f
}

// NewBuilder returns a fresh builder of the given type.
func NewBuilder(name string) (Builder, bool) { return builders.lookup(name) }

// NewProvisioner returns a fresh provisioner of the given type.
func NewProvisioner(name string) (Provisioner, bool) { return provisioners.lookup(name) }

// NewPostProcessor returns a fresh post-processor of the given type.
func NewPostProcessor(name string) (PostProcessor, bool) { return postProcessors.lookup(name) }

// NewDataSource returns a fresh data source of the given type.
func NewDataSource(name string) (DataSource, bool) { return dataSources.lookup(name) }

// HasBuilder, HasProvisioner, HasPostProcessor and HasDataSource report
// whether a type is registered, without making one (a template with
// hundreds of blocks checks each type while it is read).
func HasBuilder(name string) bool       { return builders.has(name) }
func HasProvisioner(name string) bool   { return provisioners.has(name) }
func HasPostProcessor(name string) bool { return postProcessors.has(name) }
func HasDataSource(name string) bool    { return dataSources.has(name) }

// BuilderTypes lists the registered builder types, sorted.
func BuilderTypes() []string { return builders.names() }

// ProvisionerTypes lists the registered provisioner types, sorted.
func ProvisionerTypes() []string { return provisioners.names() }

// PostProcessorTypes lists the registered post-processor types, sorted.
func PostProcessorTypes() []string { return postProcessors.names() }

// DataSourceTypes lists the registered data source types, sorted.
func DataSourceTypes() []string { return dataSources.names() }

// Functions returns the functions plugins registered.
func Functions() map[string]function.Function {
	functionsMu.Lock()
	defer functionsMu.Unlock()
	out := make(map[string]function.Function, len(functions))
	for k, v := range functions {
		out[k] = v
	}
	return out
}
