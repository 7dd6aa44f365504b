package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Templates and var files are read whole: a named pipe would block
// validate forever and /dev/zero would fill memory, so both are refused,
// and so is a file over the size limit, each with its name.
func TestValidateRefusesPipesDevicesAndOversizedTemplateAndVarFiles(t *testing.T) {
	dir := writeTemplate(t, map[string]string{"main.pkr.hcl": goodTemplate})
	big := filepath.Join(t.TempDir(), "big.pkrvars.hcl")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 5<<20); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"a device as var file", []string{"-var-file=/dev/zero", dir}, []string{"/dev/zero", "character device"}},
		{"an oversized var file", []string{"-var-file=" + big, dir}, []string{big, "larger than 4 MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, "", append([]string{"validate", "-var", "image=x"}, tc.args...)...)
			if code != 1 {
				t.Errorf("exit %d; want 1", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not say %q:\n%s", w, errOut)
				}
			}
		})
	}

	fifo := filepath.Join(dir, "x.pkr.hcl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "", "validate", "-var", "image=x", dir)
	if code != 1 || !strings.Contains(errOut, fifo) || !strings.Contains(errOut, "named pipe") {
		t.Errorf("a named pipe in the template folder: exit %d, stderr:\n%s", code, errOut)
	}
	code, _, errOut = run(t, "", "fmt", "-check", fifo)
	if code != 1 || !strings.Contains(errOut, "named pipe") {
		t.Errorf("fmt of a named pipe: exit %d, stderr:\n%s", code, errOut)
	}
}

func TestFmtRefusesOversizedStandardInput(t *testing.T) {
	code, out, errOut := run(t, strings.Repeat("#", 5<<20), "fmt", "-")
	if code != 1 || out != "" || !strings.Contains(errOut, "standard input is larger than 4 MiB") {
		t.Errorf("exit %d, %d bytes of stdout, stderr %q", code, len(out), errOut)
	}
}
