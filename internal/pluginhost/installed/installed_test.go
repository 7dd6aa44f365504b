package installed

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

const dockerSource = "github.com/hashicorp/docker"

// pluginPathEnv is an environment whose only plugin folders are dirs.
func pluginPathEnv(t *testing.T, dirs ...string) Options {
	return Options{Env: []string{"HOME=" + t.TempDir(), "PACKER_PLUGIN_PATH=" + strings.Join(dirs, string(os.PathListSeparator))}}
}

func find(plugins []*Plugin, source, version string) *Plugin {
	for _, p := range plugins {
		if p.Source == source && p.Version == version {
			return p
		}
	}
	return nil
}

func TestDiscoverDescribesLayoutPluginsWhoseChecksumsMatch(t *testing.T) {
	dir := testenv.PluginDir(t, "docker", "ansible")
	plugins, warnings, err := Discover(context.Background(), pluginPathEnv(t, dir))
	if err != nil || len(warnings) > 0 {
		t.Fatalf("Discover: %v, warnings %q", err, warnings)
	}
	docker := find(plugins, dockerSource, testenv.PackerPluginVersion("docker"))
	ansible := find(plugins, "github.com/hashicorp/ansible", testenv.PackerPluginVersion("ansible"))
	if docker == nil || ansible == nil {
		t.Fatalf("want docker and ansible, got %+v", plugins)
	}
	if !slices.Contains(docker.Desc.Builders, DefaultName) || !slices.Contains(docker.Desc.PostProcessors, "push") {
		t.Errorf("docker describes %+v", docker.Desc)
	}
	if !slices.Contains(ansible.Desc.Provisioners, "local") {
		t.Errorf("ansible describes %+v", ansible.Desc)
	}
}

func TestDiscoverLeavesOutBinariesWithoutAMatchingChecksum(t *testing.T) {
	dir := testenv.PluginDir(t, "docker", "ansible")
	docker := layoutBinary(t, dir, "docker")
	ansible := layoutBinary(t, dir, "ansible")
	if err := os.WriteFile(docker+ChecksumSuffix, []byte(strings.Repeat("0", 64)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(ansible + ChecksumSuffix); err != nil {
		t.Fatal(err)
	}
	plugins, warnings, err := Discover(context.Background(), pluginPathEnv(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(plugins) != 0 {
		t.Errorf("plugins with bad or missing checksums were kept: %+v", plugins)
	}
	joined := strings.Join(warnings, "\n")
	if !strings.Contains(joined, "checksum does not match") || !strings.Contains(joined, "no checksum file") {
		t.Errorf("warnings do not say why: %q", warnings)
	}
}

func TestComponentsNamePluginsAndLegacyBinariesOverrideTheLayout(t *testing.T) {
	dir := testenv.PluginDir(t, "docker")
	legacyDir := t.TempDir()
	legacy := filepath.Join(legacyDir, "packer-plugin-docker")
	copyFile(t, testenv.PackerPlugin(t, "docker"), legacy)
	mine := filepath.Join(legacyDir, "packer-plugin-mine")
	copyFile(t, testenv.PackerPlugin(t, "docker"), mine)

	plugins, _, err := Discover(context.Background(), pluginPathEnv(t, dir, legacyDir))
	if err != nil {
		t.Fatal(err)
	}
	comps, diags := Components(plugins, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if c := comps[Builder]["docker"]; c.Plugin == nil || c.Plugin.Path != legacy || c.Name != DefaultName {
		t.Errorf("docker builder = %+v, want the legacy binary %s", c, legacy)
	}
	if c := comps[PostProcessor]["mine-push"]; c.Plugin == nil || c.Plugin.Path != mine || c.Name != "push" {
		t.Errorf("mine-push = %+v", c)
	}
	if c := comps[Builder]["mine"]; c.Plugin == nil {
		t.Errorf("no builder named after the legacy file name: %v", comps[Builder])
	}
}

func TestRequirementsChooseTheHighestInstalledVersionTheyAllow(t *testing.T) {
	dir := testenv.PluginDir(t, "docker")
	// A second version of the same binary, installed as `plugins install` lays it out.
	newer := BinaryPath(dir, Source{"github.com", "hashicorp", "docker"}, version.Must(version.NewVersion("1.10.0")), APIVersion)
	if err := copyWithChecksum(testenv.PackerPlugin(t, "docker"), newer); err != nil {
		t.Fatal(err)
	}
	plugins, _, err := Discover(context.Background(), pluginPathEnv(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	rng := hcl.Range{Filename: "t.pkr.hcl", Start: hcl.Pos{Line: 3, Column: 5}}
	for _, tc := range []struct{ constraint, want string }{
		{"", "1.10.0"}, // 1.10 is above 1.9: versions, not strings
		{"< 1.10", testenv.PackerPluginVersion("docker")},
		{"~> 1.0.0", testenv.PackerPluginVersion("docker")},
	} {
		comps, diags := Components(plugins, []Requirement{{LocalName: "mydocker", Source: dockerSource, Constraint: tc.constraint, Range: rng}})
		if diags.HasErrors() {
			t.Fatalf("%q: %v", tc.constraint, diags)
		}
		c := comps[Builder]["mydocker"]
		if c.Plugin == nil || c.Plugin.Version != tc.want {
			t.Errorf("constraint %q chose %+v, want version %s", tc.constraint, c.Plugin, tc.want)
		}
		if comps[PostProcessor]["mydocker-tag"].Plugin != c.Plugin {
			t.Errorf("constraint %q: post-processors not named after the local name", tc.constraint)
		}
	}

	_, diags := Components(plugins, []Requirement{{LocalName: "docker", Source: dockerSource, Constraint: ">= 2.0", Range: rng}})
	if !diags.HasErrors() || diags[0].Subject == nil || diags[0].Subject.Start.Line != 3 {
		t.Fatalf("an unmet requirement must be an error at its entry: %v", diags)
	}
	if d := diags[0].Detail; !strings.Contains(d, "imgbuild plugins install --path") || !strings.Contains(d, "1.10.0") {
		t.Errorf("the error does not say how to install or what is installed: %s", d)
	}
	if _, diags := Components(plugins, []Requirement{{LocalName: "amazon", Source: "github.com/hashicorp/amazon", BuiltIn: true}}); diags.HasErrors() {
		t.Errorf("a requirement served natively is no error: %v", diags)
	}
}

func TestDescribeCacheStartsNoPluginForAnUnchangedBinary(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "runs")
	// A stand-in that counts its runs: the subject here is the cache, not the protocol.
	script := "#!/bin/sh\necho run >> " + marker + "\n" +
		`echo '{"version":"0.1.0","api_version":"x5.0","builders":["-packer-default-plugin-name-"]}'` + "\n"
	bin := filepath.Join(dir, "packer-plugin-counted")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := pluginPathEnv(t, dir)
	opts.DescribeCache = filepath.Join(t.TempDir(), "describe.json")
	runs := func() int {
		data, _ := os.ReadFile(marker)
		return strings.Count(string(data), "run")
	}
	for i := 0; i < 2; i++ {
		plugins, _, err := Discover(context.Background(), opts)
		if err != nil || len(plugins) != 1 || plugins[0].Version != "0.1.0" {
			t.Fatalf("Discover: %v %+v", err, plugins)
		}
	}
	if runs() != 1 {
		t.Errorf("the binary ran %d times for two discoveries, want 1", runs())
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(bin, later, later); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Discover(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if runs() != 2 {
		t.Errorf("a changed binary was not described again (%d runs)", runs())
	}
}

func TestDescribeRefusesABinaryThatIsNotAPlugin(t *testing.T) {
	_, err := Describe(context.Background(), testenv.NeedCommand(t, "true"))
	if err == nil || !strings.Contains(err.Error(), "not a Packer plugin") {
		t.Fatalf("Describe(true) = %v", err)
	}
}

func TestInstallLaysOutTheBinaryWithItsChecksumAndRemoveDeletesBoth(t *testing.T) {
	dir := t.TempDir()
	opts := pluginPathEnv(t, t.TempDir(), dir) // installs go to the last folder
	p, err := Install(context.Background(), opts, testenv.PackerPlugin(t, "docker"), dockerSource)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(p.Path)))) != dir {
		t.Errorf("installed at %s, want under %s", p.Path, dir)
	}
	if want := "packer-plugin-docker_v" + p.Version + "_x5.0_"; !strings.HasPrefix(filepath.Base(p.Path), want) {
		t.Errorf("file name %s, want prefix %s", filepath.Base(p.Path), want)
	}
	plugins, warnings, err := Discover(context.Background(), opts)
	if err != nil || len(warnings) > 0 || find(plugins, dockerSource, p.Version) == nil {
		t.Fatalf("the installed plugin is not discovered: %v %q %+v", err, warnings, plugins)
	}
	list, _, err := List(opts, dockerSource, "")
	if err != nil || len(list) != 1 || list[0].Path != p.Path {
		t.Fatalf("List = %+v, %v", list, err)
	}

	if _, err := Install(context.Background(), opts, testenv.NeedCommand(t, "true"), dockerSource); err == nil {
		t.Error("a binary that is not a plugin was installed")
	}
	if _, err := Install(context.Background(), opts, testenv.PackerPlugin(t, "docker"), "docker"); err == nil || !strings.Contains(err.Error(), "HOST/NAMESPACE/NAME") {
		t.Errorf("a bad source was accepted: %v", err)
	}

	removed, err := Remove(opts, dockerSource, "")
	if err != nil || len(removed) != 1 {
		t.Fatalf("Remove = %v, %v", removed, err)
	}
	for _, f := range []string{p.Path, p.Path + ChecksumSuffix} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s is still there", f)
		}
	}
	if _, err := Remove(opts, dockerSource, ""); err == nil {
		t.Error("removing nothing is no error")
	}
}

func TestFoldersFollowPackerConfigDirRules(t *testing.T) {
	home := t.TempDir()
	env := []string{"HOME=" + home}
	if got, want := ConfigDir(env), filepath.Join(home, ".config", "packer"); got != want {
		t.Errorf("ConfigDir = %s, want %s", got, want)
	}
	if got, want := ConfigDir(append(env, "XDG_CONFIG_HOME=/x")), "/x/packer"; got != want {
		t.Errorf("with XDG_CONFIG_HOME: %s, want %s", got, want)
	}
	if err := os.Mkdir(filepath.Join(home, ".packer.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, want := ConfigDir(append(env, "XDG_CONFIG_HOME=/x")), filepath.Join(home, ".packer.d"); got != want {
		t.Errorf("with ~/.packer.d present: %s, want %s", got, want)
	}
	if got, want := ConfigDir(append(env, "PACKER_CONFIG_DIR=/c")), "/c/.packer.d"; got != want {
		t.Errorf("with PACKER_CONFIG_DIR: %s, want %s", got, want)
	}
	folders := Folders(Options{Env: env, TemplateDir: "/t", WorkDir: "/w"})
	if n := len(folders); n < 3 || folders[n-3] != "/t" || folders[n-2] != "/w" || folders[n-1] != filepath.Join(home, ".packer.d", "plugins") {
		t.Errorf("Folders = %v", folders)
	}
	if got := Folders(Options{Env: append(env, "PACKER_PLUGIN_PATH=/a:/b"), TemplateDir: "/t"}); !slices.Equal(got, []string{"/a", "/b"}) {
		t.Errorf("PACKER_PLUGIN_PATH must be the only folders: %v", got)
	}
}

func layoutBinary(t *testing.T, dir, name string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "*", "*", name, "packer-plugin-"+name+"_v*"))
	for _, m := range matches {
		if !strings.HasSuffix(m, ChecksumSuffix) {
			// The layout may hard-link the shared binary: replace, never write into it.
			return m
		}
	}
	t.Fatalf("no %s binary in %s", name, dir)
	return ""
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
