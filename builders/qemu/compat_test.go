package qemu_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/builders/qemu"
	"github.com/imgbuild/imgbuild/internal/template"
	"github.com/imgbuild/imgbuild/internal/testenv"

	// Only the plugins these templates use, so that other plugins being
	// mid-change cannot break this package's tests.
	_ "github.com/imgbuild/imgbuild/postprocessors/shelllocal"
	_ "github.com/imgbuild/imgbuild/provisioners/file"
	_ "github.com/imgbuild/imgbuild/provisioners/shell"
)

// Real templates that Packer 1.9.4 accepts must be accepted with all their
// qemu options.
func TestRealQemuTemplatesValidate(t *testing.T) {
	dir := testenv.SharedCompatDir()
	if dir == "" {
		testenv.Unavailable(t, "the shared compatibility corpus is not beside the repository")
	}
	examples, _ := filepath.Abs(filepath.Join(testenv.RepoRoot(), "examples"))
	for _, tc := range []struct {
		name, dir, file string
		check           func(c *qemu.Config) bool
	}{
		{"013 multi-build cd_content", filepath.Join(dir, "templates", "013-qemu-multi-build-cd-content-pathcwd"), ".",
			func(c *qemu.Config) bool {
				return c.CDLabel == "cidata" && len(c.CDContent) == 2 && c.MemorySize == 512
			}},
		{"036 efi boot_steps vtpm", filepath.Join(dir, "templates", "036-qemu-efi-boot-steps-vtpm"), ".",
			func(c *qemu.Config) bool {
				return c.MachineType == "q35" && len(c.BootSteps) == 16 && c.MemorySize == 1024 && c.EFIBoot
			}},
		{"examples/qemu.pkr.hcl", examples, "qemu.pkr.hcl",
			func(c *qemu.Config) bool { return c.DiskImage }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(tc.dir, tc.file)); err != nil {
				t.Fatalf("the template of this case is gone: %v", err)
			}
			t.Chdir(tc.dir) // the templates read files relative to path.cwd
			tpl, diags := template.Load(context.Background(), template.LoadOptions{Path: tc.file})
			if diags.HasErrors() {
				t.Fatalf("loading: %v", diags)
			}
			plans, diags := tpl.Plans(nil, nil)
			if diags.HasErrors() {
				t.Fatalf("validating: %v", diags)
			}
			if len(plans) == 0 {
				t.Fatal("no builds")
			}
			for _, p := range plans {
				c, ok := p.Builder.Config().(*qemu.Config)
				if !ok || !tc.check(c) {
					t.Errorf("%s: the qemu options were not decoded as expected: %+v", p.Name, p.Builder.Config())
				}
			}
		})
	}
}
