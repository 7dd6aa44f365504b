package plugin

// Kind is a kind of component, as messages name it.
type Kind string

const (
	KindBuilder       Kind = "builder"
	KindProvisioner   Kind = "provisioner"
	KindPostProcessor Kind = "post-processor"
	KindDataSource    Kind = "data source"
)

// Catalog is where the template engine finds the component types a
// template names: the plugins built into imgbuild, and, when a run has a
// plugin host, the installed Packer plugins.
type Catalog interface {
	// Has reports whether typ names a component of kind, without making
	// one (an external plugin is not started).
	Has(kind Kind, typ string) bool
	// Types lists the type names of kind, sorted, for "Known:" lists and
	// "Did you mean" suggestions.
	Types(kind Kind) []string
	// New makes a component of kind typ: a Builder, Provisioner,
	// PostProcessor or DataSource. ok is false when typ is unknown.
	New(kind Kind, typ string) (c Configurable, ok bool)
}

// Builtins is the catalog of the plugins compiled into imgbuild (the
// registry filled by the plugin packages' init functions).
func Builtins() Catalog { return builtins{} }

type builtins struct{}

func (builtins) Has(kind Kind, typ string) bool {
	switch kind {
	case KindBuilder:
		return HasBuilder(typ)
	case KindProvisioner:
		return HasProvisioner(typ)
	case KindPostProcessor:
		return HasPostProcessor(typ)
	case KindDataSource:
		return HasDataSource(typ)
	}
	return false
}

func (builtins) Types(kind Kind) []string {
	switch kind {
	case KindBuilder:
		return BuilderTypes()
	case KindProvisioner:
		return ProvisionerTypes()
	case KindPostProcessor:
		return PostProcessorTypes()
	case KindDataSource:
		return DataSourceTypes()
	}
	return nil
}

func (builtins) New(kind Kind, typ string) (Configurable, bool) {
	// Each branch returns its own interface type converted on purpose:
	// a nil Builder must not become a non-nil Configurable.
	switch kind {
	case KindBuilder:
		if b, ok := NewBuilder(typ); ok {
			return b, true
		}
	case KindProvisioner:
		if p, ok := NewProvisioner(typ); ok {
			return p, true
		}
	case KindPostProcessor:
		if p, ok := NewPostProcessor(typ); ok {
			return p, true
		}
	case KindDataSource:
		if d, ok := NewDataSource(typ); ok {
			return d, true
		}
	}
	return nil, false
}
