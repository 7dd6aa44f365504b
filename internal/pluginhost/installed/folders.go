package installed

import (
	"os"
	"path/filepath"
	"strings"
)

// getenv reads key from env (os.Environ form); the last entry wins, as
// exec does.
func getenv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// Folders lists where plugins are looked for, lowest precedence first, as
// Packer 1.9 does: only PACKER_PLUGIN_PATH's entries when it is set;
// otherwise imgbuild's own folder, the template's folder, the working
// directory and the plugin directory under Packer's config directory.
// The last folder is where `plugins install` and `init` put plugins.
func Folders(opts Options) []string {
	if p := getenv(opts.Env, "PACKER_PLUGIN_PATH"); p != "" {
		var out []string
		for _, f := range filepath.SplitList(p) {
			if f != "" {
				out = append(out, f)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	var out []string
	if exe, err := os.Executable(); err == nil {
		out = append(out, filepath.Dir(exe))
	}
	for _, f := range []string{opts.TemplateDir, opts.WorkDir} {
		if f != "" {
			out = append(out, f)
		}
	}
	if cd := ConfigDir(opts.Env); cd != "" {
		out = append(out, filepath.Join(cd, "plugins"))
	}
	return dedupe(out)
}

// InstallFolder is the folder `plugins install` and `init` install into:
// the last of Folders.
func InstallFolder(opts Options) string {
	f := Folders(opts)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// ConfigDir is Packer's configuration directory: PACKER_CONFIG_DIR/.packer.d
// when set; ~/.packer.d when it exists (the old default); otherwise
// $XDG_CONFIG_HOME/packer or ~/.config/packer. "" without HOME.
func ConfigDir(env []string) string {
	if cd := getenv(env, "PACKER_CONFIG_DIR"); cd != "" {
		return filepath.Join(cd, ".packer.d")
	}
	home := getenv(env, "HOME")
	if home == "" {
		return ""
	}
	if fi, err := os.Stat(filepath.Join(home, ".packer.d")); err == nil && fi.IsDir() {
		return filepath.Join(home, ".packer.d")
	}
	if x := getenv(env, "XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "packer")
	}
	return filepath.Join(home, ".config", "packer")
}

func dedupe(folders []string) []string {
	seen := map[string]bool{}
	var out []string
	// Keep the last occurrence: a folder named twice has the precedence
	// of its later place.
	for i := len(folders) - 1; i >= 0; i-- {
		abs, err := filepath.Abs(folders[i])
		if err != nil {
			abs = folders[i]
		}
		if !seen[abs] {
			seen[abs] = true
			out = append([]string{abs}, out...)
		}
	}
	return out
}
