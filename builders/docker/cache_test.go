package docker

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestMountedHostPathsAreKeyedAndNamedVolumesAreNot(t *testing.T) {
	abs, _ := filepath.Abs("rel/dir")
	b := &Builder{config: Config{
		Image:      "alpine",
		Volumes:    map[string]string{"/srv/data": "/data", "./rel/dir": "/rel"},
		RunCommand: []string{"-d", "-i", "-t", "-v", "/host/cache:/cache:ro", "{{.Image}}", "/bin/sh"},
	}}
	got, err := b.mountedHostPaths()
	if err != nil {
		t.Fatal(err)
	}
	// mountedHostPaths sorts, so where the checkout lives decides abs's place.
	want := []string{"/host/cache", "/srv/data", abs}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("mountedHostPaths = %v, want %v", got, want)
	}
	b.config.Volumes = map[string]string{"buildcache": "/cache"}
	if _, err := b.mountedHostPaths(); err == nil || !strings.Contains(err.Error(), `named volume "buildcache"`) {
		t.Errorf("a named volume gave %v, want an error naming it", err)
	}
}
