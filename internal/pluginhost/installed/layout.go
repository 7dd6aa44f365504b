package installed

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/hashicorp/go-version"
)

// ChecksumSuffix ends the name of the file beside each installed binary
// that holds its SHA-256 in hex, as Packer writes it.
const ChecksumSuffix = "_SHA256SUM"

// platformSuffix ends the file name of a binary built for this machine.
func platformSuffix() string { return "_" + runtime.GOOS + "_" + runtime.GOARCH }

// Source is a plugin's source address: github.com/hashicorp/ansible.
type Source struct{ Host, Namespace, Name string }

func (s Source) String() string { return s.Host + "/" + s.Namespace + "/" + s.Name }

// ParseSource reads "github.com/hashicorp/ansible" (a
// "packer-plugin-" prefix on the last part is dropped, as Packer does).
func ParseSource(s string) (Source, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Source{}, fmt.Errorf("plugin source %q is not of the form HOST/NAMESPACE/NAME, like github.com/hashicorp/ansible", s)
	}
	name := strings.TrimPrefix(parts[2], "packer-plugin-")
	if name == "" || strings.ContainsAny(name, "_ ") {
		return Source{}, fmt.Errorf("plugin source %q has an invalid name %q", s, name)
	}
	return Source{Host: strings.ToLower(parts[0]), Namespace: strings.ToLower(parts[1]), Name: strings.ToLower(name)}, nil
}

// BinaryName is the file name a plugin version has in the layout:
// packer-plugin-NAME_vVERSION_x5.0_OS_ARCH.
func BinaryName(name string, v *version.Version, api string) string {
	return "packer-plugin-" + name + "_v" + v.String() + "_" + api + platformSuffix()
}

// BinaryPath is where a plugin version lives under folder.
func BinaryPath(folder string, src Source, v *version.Version, api string) string {
	return filepath.Join(folder, src.Host, src.Namespace, src.Name, BinaryName(src.Name, v, api))
}

// layoutEntry is a binary found in the layout, named as Packer names them.
type layoutEntry struct {
	src     Source
	version *version.Version
	api     string // "x5.0"
}

// parseLayoutName reads packer-plugin-NAME_vVERSION_xMAJ.MIN_OS_ARCH for
// this machine's OS and architecture; ok is false for anything else.
func parseLayoutName(name string, file string) (v *version.Version, api string, ok bool) {
	prefix := "packer-plugin-" + name + "_"
	if !strings.HasPrefix(file, prefix) || !strings.HasSuffix(file, platformSuffix()) {
		return nil, "", false
	}
	mid := strings.TrimSuffix(strings.TrimPrefix(file, prefix), platformSuffix())
	ver, api, found := strings.Cut(mid, "_")
	if !found || !strings.HasPrefix(ver, "v") {
		return nil, "", false
	}
	v, err := version.NewVersion(ver)
	if err != nil {
		return nil, "", false
	}
	return v, api, true
}

// CompatibleAPI applies Packer's rule: the major protocol version must be
// ours, and the minor one no newer than ours.
func CompatibleAPI(api string) error {
	maj, min, ok := splitAPI(api)
	wantMaj, wantMin, _ := splitAPI(APIVersion)
	if !ok {
		return fmt.Errorf("protocol version %q is not of the form x5.0", api)
	}
	if maj != wantMaj {
		return fmt.Errorf("it speaks plugin protocol %s; imgbuild speaks %s (major versions differ)", api, APIVersion)
	}
	if min > wantMin {
		return fmt.Errorf("it speaks plugin protocol %s, newer than imgbuild's %s; use an older version of the plugin", api, APIVersion)
	}
	return nil
}

func splitAPI(api string) (maj, min int, ok bool) {
	a, b, found := strings.Cut(strings.TrimPrefix(api, "x"), ".")
	if !found {
		return 0, 0, false
	}
	maj, err1 := strconv.Atoi(a)
	min, err2 := strconv.Atoi(b)
	return maj, min, err1 == nil && err2 == nil
}
