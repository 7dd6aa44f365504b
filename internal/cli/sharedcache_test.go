package cli

import (
	"strings"
	"testing"
)

// A -cache-url (or IMGBUILD_CACHE_URL) that names no shared cache imgbuild
// has is refused before anything is built, saying which URLs work.
func TestCacheURLWithoutAKnownSchemeIsRefusedBeforeBuilding(t *testing.T) {
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": goodTemplate})
	t.Setenv("IMGBUILD_CACHE_DIR", t.TempDir())
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want []string
	}{
		{"another scheme", []string{"-cache-url", "ftp://host/x"}, "", []string{"ftp://host/x", "s3://bucket/prefix", "oci://host:port/repository"}},
		{"a registry without a repository", []string{"-cache-url", "oci://127.0.0.1:5000"}, "", []string{"names no repository"}},
		{"a repository name with capitals", []string{"-cache-url", "oci://127.0.0.1:5000/Cache"}, "", []string{"is not a repository name"}},
		{"from the environment", []string{"-cache"}, "registry:5000/cache", []string{"registry:5000/cache", "oci://host:port/repository"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("IMGBUILD_CACHE_URL", tc.env)
			args := append([]string{"build", "-var", "image=x"}, tc.args...)
			code, out, errOut := run(t, "", append(args, dir)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not say %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(out, "cli-test") {
				t.Errorf("a build started:\n%s", out)
			}
		})
	}
}
