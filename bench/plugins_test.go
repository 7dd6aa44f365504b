package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/dockerengine/enginetest"
	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/pluginhost"
	"github.com/imgbuild/imgbuild/internal/pluginhost/installed"
	"github.com/imgbuild/imgbuild/internal/testenv"
)

// BenchmarkPluginStartup times, for each of HashiCorp's plugins the tests
// use, what a run pays before a plugin block is decoded: `describe`
// (uncached; a run reuses it from the describe cache), then starting the
// component's process, the protocol's handshake and its first call
// (ConfigSpec). The floor is starting /bin/true and waiting for it
// (x-exec); the target is at most 50 ms per plugin (ms-start).
func BenchmarkPluginStartup(b *testing.B) {
	components := []struct{ plugin, kind, name string }{
		{"docker", "builder", installed.DefaultName},
		{"ansible", "provisioner", installed.DefaultName},
		{"azure", "builder", "arm"},
		{"googlecompute", "builder", installed.DefaultName},
		{"vsphere", "builder", "clone"},
		{"vagrant", "post-processor", installed.DefaultName},
	}
	trueBin := testenv.NeedCommand(b, "true")
	for _, c := range components {
		b.Run(c.plugin, func(b *testing.B) {
			path := testenv.PackerPlugin(b, c.plugin)
			var describe, start, floor time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				desc, err := installed.Describe(context.Background(), path)
				if err != nil {
					b.Fatal(err)
				}
				describe += time.Since(t0)

				p := &installed.Plugin{Source: "github.com/hashicorp/" + c.plugin, Name: c.plugin, Version: desc.Version, Path: path, Desc: desc}
				comp := installed.Component{Kind: installed.Kind(c.kind), Type: "t", Name: c.name, Plugin: p}
				host := pluginhost.New([]*installed.Plugin{p}, pluginhost.Options{Env: os.Environ()})
				kind := map[string]plugin.Kind{"builder": plugin.KindBuilder, "provisioner": plugin.KindProvisioner, "post-processor": plugin.KindPostProcessor}[c.kind]
				cat := host.CatalogOf(plugin.Builtins(), map[installed.Kind]map[string]installed.Component{comp.Kind: {"t": comp}})
				t0 = time.Now()
				cfg, ok := cat.New(kind, "t")
				if !ok {
					b.Fatal("no component")
				}
				if _, err := cfg.(plugin.SpecConfigurable).ConfigSpec(); err != nil {
					b.Fatal(err)
				}
				start += time.Since(t0)
				host.Close()

				t0 = time.Now()
				if err := exec.Command(trueBin).Run(); err != nil {
					b.Fatal(err)
				}
				floor += time.Since(t0)
			}
			n := float64(b.N)
			b.ReportMetric(describe.Seconds()*1000/n, "ms-describe")
			b.ReportMetric(start.Seconds()*1000/n, "ms-start")
			b.ReportMetric(float64(start)/float64(floor), "x-exec")
		})
	}
}

// BenchmarkDockerPluginBuild builds one template twice per round: with
// the native docker builder and with packer-plugin-docker (forced external
// by a local name), the same shell and file provisioners and a tag; it
// reports the plugin's time as a ratio to the native one (x-native).
func BenchmarkDockerPluginBuild(b *testing.B) {
	enginetest.NeedEngine(b)
	bin := testenv.Binary(b)
	plugins := testenv.PluginDir(b, "docker")
	dir := b.TempDir()
	write := func(local, pp string) string {
		path := filepath.Join(dir, local+".pkr.hcl")
		text := fmt.Sprintf(`packer {
  required_plugins {
    %[1]s = { source = "github.com/hashicorp/docker", version = ">= 1.0.0" }
  }
}
variable "repo" { type = string }
source "%[1]s" "x" {
  image  = "%[3]s"
  commit = true
  pull   = false
}
build {
  sources = ["source.%[1]s.x"]
  provisioner "shell" { inline = ["mkdir -p /etc/app", "echo built > /etc/app/by.txt"] }
  provisioner "file" {
    content     = "setting = 1\n"
    destination = "/etc/app/app.conf"
  }
  post-processor "%[2]s" {
    repository = var.repo
    tags       = ["b"]
  }
}
`, local, pp, testenv.BaseImage)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
		return path
	}
	native, external := write("docker", "docker-tag"), write("extdocker", "extdocker-tag")
	build := func(tmpl string) time.Duration {
		repo := enginetest.Unique("imgbuild-bench-plugin-")
		cmd := exec.Command(bin, "build", "-var", "repo="+repo, tmpl)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PACKER_PLUGIN_PATH="+plugins)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("imgbuild build %s: %v\n%s", tmpl, err, out)
		}
		d := time.Since(start)
		exec.Command("docker", "rmi", repo+":b").Run()
		return d
	}
	build(native) // warm both: image layers, the describe cache
	build(external)
	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		theirs += build(external)
		ours += build(native)
	}
	b.StopTimer()
	b.ReportMetric(ours.Seconds()/float64(b.N), "s-native")
	b.ReportMetric(theirs.Seconds()/float64(b.N), "s-plugin")
	b.ReportMetric(float64(theirs)/float64(ours), "x-native")
}
