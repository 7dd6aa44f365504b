package docker

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-units"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// runSpec is what a `docker run` argument list (run_command) asks for,
// in Engine API terms.
type runSpec struct {
	config   container.Config
	host     container.HostConfig
	name     string
	platform string
}

var imageTemplate = regexp.MustCompile(`\{\{\s*\.Image\s*\}\}`)

// runFlag reads one `docker run` option into a runSpec.
type runFlag struct {
	takesValue bool
	apply      func(s *runSpec, v string) error
}

func boolFlag(f func(s *runSpec)) runFlag {
	return runFlag{apply: func(s *runSpec, _ string) error { f(s); return nil }}
}

func valueFlag(f func(s *runSpec, v string) error) runFlag {
	return runFlag{takesValue: true, apply: f}
}

func appendTo(field func(s *runSpec) *[]string) runFlag {
	return valueFlag(func(s *runSpec, v string) error { p := field(s); *p = append(*p, v); return nil })
}

// runFlags are the `docker run` options imgbuild understands. Short
// aliases map to the same entry.
var runFlags = map[string]runFlag{
	"detach":      boolFlag(func(*runSpec) {}), // always detached
	"rm":          boolFlag(func(*runSpec) {}), // imgbuild removes the container itself
	"interactive": boolFlag(func(s *runSpec) { s.config.OpenStdin = true }),
	"tty":         boolFlag(func(s *runSpec) { s.config.Tty = true }),
	"privileged":  boolFlag(func(s *runSpec) { s.host.Privileged = true }),
	"init":        boolFlag(func(s *runSpec) { t := true; s.host.Init = &t }),
	"read-only":   boolFlag(func(s *runSpec) { s.host.ReadonlyRootfs = true }),
	"entrypoint": valueFlag(func(s *runSpec, v string) error {
		// As the docker CLI: an empty value resets the image's entrypoint.
		s.config.Entrypoint = []string{v}
		return nil
	}),
	"env": valueFlag(func(s *runSpec, v string) error {
		if !strings.Contains(v, "=") {
			val, ok := os.LookupEnv(v)
			if !ok {
				return nil
			}
			v += "=" + val
		}
		s.config.Env = append(s.config.Env, v)
		return nil
	}),
	"volume":       appendTo(func(s *runSpec) *[]string { return &s.host.Binds }),
	"user":         valueFlag(func(s *runSpec, v string) error { s.config.User = v; return nil }),
	"workdir":      valueFlag(func(s *runSpec, v string) error { s.config.WorkingDir = v; return nil }),
	"name":         valueFlag(func(s *runSpec, v string) error { s.name = v; return nil }),
	"hostname":     valueFlag(func(s *runSpec, v string) error { s.config.Hostname = v; return nil }),
	"network":      valueFlag(func(s *runSpec, v string) error { s.host.NetworkMode = container.NetworkMode(v); return nil }),
	"dns":          appendTo(func(s *runSpec) *[]string { return &s.host.DNS }),
	"add-host":     appendTo(func(s *runSpec) *[]string { return &s.host.ExtraHosts }),
	"security-opt": appendTo(func(s *runSpec) *[]string { return &s.host.SecurityOpt }),
	"group-add":    appendTo(func(s *runSpec) *[]string { return &s.host.GroupAdd }),
	"cap-add":      appendTo(func(s *runSpec) *[]string { return (*[]string)(&s.host.CapAdd) }),
	"cap-drop":     appendTo(func(s *runSpec) *[]string { return (*[]string)(&s.host.CapDrop) }),
	"label": valueFlag(func(s *runSpec, v string) error {
		k, val, _ := strings.Cut(v, "=")
		if s.config.Labels == nil {
			s.config.Labels = map[string]string{}
		}
		s.config.Labels[k] = val
		return nil
	}),
	"device": valueFlag(func(s *runSpec, v string) error {
		d, err := parseDevice(v)
		s.host.Devices = append(s.host.Devices, d)
		return err
	}),
	"tmpfs":    valueFlag(func(s *runSpec, v string) error { addTmpfs(&s.host, v); return nil }),
	"platform": valueFlag(func(s *runSpec, v string) error { s.platform = v; _, err := parsePlatform(v); return err }),
	"runtime":  valueFlag(func(s *runSpec, v string) error { s.host.Runtime = v; return nil }),
	"cgroupns": valueFlag(func(s *runSpec, v string) error { s.host.CgroupnsMode = container.CgroupnsMode(v); return nil }),
	"ipc":      valueFlag(func(s *runSpec, v string) error { s.host.IpcMode = container.IpcMode(v); return nil }),
	"pid":      valueFlag(func(s *runSpec, v string) error { s.host.PidMode = container.PidMode(v); return nil }),
	"userns":   valueFlag(func(s *runSpec, v string) error { s.host.UsernsMode = container.UsernsMode(v); return nil }),
	"stop-signal": valueFlag(func(s *runSpec, v string) error {
		s.config.StopSignal = v
		return nil
	}),
	"sysctl": valueFlag(func(s *runSpec, v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return fmt.Errorf("--sysctl %q: use KEY=VALUE", v)
		}
		if s.host.Sysctls == nil {
			s.host.Sysctls = map[string]string{}
		}
		s.host.Sysctls[k] = val
		return nil
	}),
	"shm-size": valueFlag(func(s *runSpec, v string) error {
		n, err := units.RAMInBytes(v)
		s.host.ShmSize = n
		return err
	}),
	"memory": valueFlag(func(s *runSpec, v string) error {
		n, err := units.RAMInBytes(v)
		s.host.Memory = n
		return err
	}),
}

var shortFlags = map[byte]string{
	'd': "detach", 'i': "interactive", 't': "tty", 'e': "env", 'v': "volume",
	'u': "user", 'w': "workdir", 'h': "hostname", 'l': "label", 'm': "memory",
}

var flagAliases = map[string]string{"net": "network"}

// withImage puts image where arg says {{.Image}}. Most arguments have no
// template at all, and validate parses a run_command per source.
func withImage(arg, image string) string {
	if !strings.Contains(arg, "{{") {
		return arg
	}
	return imageTemplate.ReplaceAllString(arg, image)
}

// parseRunCommand reads a `docker run` argument list: options, then the
// image ({{.Image}} stands for image), then the command.
func parseRunCommand(args []string, image string) (*runSpec, error) {
	s := &runSpec{}
	for i := 0; i < len(args); i++ {
		a := withImage(args[i], image)
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			rest := args[i:]
			if a == "--" {
				rest = args[i+1:]
			}
			if len(rest) == 0 {
				return nil, errors.New("no image: end the list with \"{{.Image}}\"")
			}
			if img := withImage(rest[0], image); img != image {
				return nil, fmt.Errorf("the image in run_command is %q but image is %q: use \"{{.Image}}\"", img, image)
			}
			for _, c := range rest[1:] {
				s.config.Cmd = append(s.config.Cmd, withImage(c, image))
			}
			return s, nil
		}
		names, value, hasValue, err := splitFlag(a)
		if err != nil {
			return nil, err
		}
		for j, name := range names {
			f, ok := runFlags[name]
			if !ok {
				return nil, fmt.Errorf("docker run option %q is not supported by imgbuild; supported: %s", a, supportedFlags())
			}
			if !f.takesValue {
				if hasValue && j == len(names)-1 {
					return nil, fmt.Errorf("%s takes no value", a)
				}
				_ = f.apply(s, "")
				continue
			}
			if j != len(names)-1 {
				return nil, fmt.Errorf("%s: -%s needs a value and must come last", a, name)
			}
			if !hasValue {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("%s needs a value", a)
				}
				i++
				value = withImage(args[i], image)
			}
			if err := f.apply(s, value); err != nil {
				return nil, fmt.Errorf("%s: %w", a, err)
			}
		}
	}
	return nil, errors.New("no image: end the list with \"{{.Image}}\"")
}

// splitFlag turns "--name=v", "--name", "-e" or "-dit" into option names.
func splitFlag(a string) (names []string, value string, hasValue bool, err error) {
	if long, ok := strings.CutPrefix(a, "--"); ok {
		name, v, has := strings.Cut(long, "=")
		if alias, ok := flagAliases[name]; ok {
			name = alias
		}
		return []string{name}, v, has, nil
	}
	shorts, v, has := strings.Cut(a[1:], "=")
	for k := 0; k < len(shorts); k++ {
		name, ok := shortFlags[shorts[k]]
		if !ok {
			return nil, "", false, fmt.Errorf("docker run option -%c (in %q) is not supported by imgbuild; supported: %s", shorts[k], a, supportedFlags())
		}
		names = append(names, name)
	}
	return names, v, has, nil
}

func supportedFlags() string {
	names := make([]string, 0, len(runFlags))
	for n := range runFlags {
		names = append(names, "--"+n)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// parseDevice reads "HOST[:CONTAINER[:PERMISSIONS]]".
func parseDevice(v string) (container.DeviceMapping, error) {
	parts := strings.Split(v, ":")
	d := container.DeviceMapping{PathOnHost: parts[0], PathInContainer: parts[0], CgroupPermissions: "rwm"}
	switch len(parts) {
	case 1:
	case 2:
		if isPerm(parts[1]) {
			d.CgroupPermissions = parts[1]
		} else {
			d.PathInContainer = parts[1]
		}
	case 3:
		d.PathInContainer, d.CgroupPermissions = parts[1], parts[2]
		if !isPerm(parts[2]) {
			return d, fmt.Errorf("%q: permissions %q must be letters of rwm", v, parts[2])
		}
	default:
		return d, fmt.Errorf("%q: use HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]]", v)
	}
	if !strings.HasPrefix(d.PathOnHost, "/") || !strings.HasPrefix(d.PathInContainer, "/") {
		return d, fmt.Errorf("%q: device paths must be absolute", v)
	}
	return d, nil
}

func isPerm(s string) bool {
	return s != "" && strings.Trim(s, "rwm") == ""
}

// addTmpfs reads "PATH[:OPTIONS]".
func addTmpfs(h *container.HostConfig, v string) {
	p, opts, _ := strings.Cut(v, ":")
	if h.Tmpfs == nil {
		h.Tmpfs = map[string]string{}
	}
	h.Tmpfs[p] = opts
}

// parsePlatform reads "os/arch[/variant]".
func parsePlatform(v string) (*ocispec.Platform, error) {
	parts := strings.Split(v, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("%q: use OS/ARCH[/VARIANT], for example linux/amd64", v)
	}
	p := &ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}
