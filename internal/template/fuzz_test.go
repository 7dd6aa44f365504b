package template

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty/function"
)

// loadInline is Load over one in-memory file, for fuzzing.
func loadInline(name string, src []byte, opts LoadOptions) (*Template, hcl.Diagnostics) {
	t := Empty(context.Background())
	t.opts = opts
	t.inline = map[string][]byte{name: src}
	return t, t.load()
}

// FuzzTemplate feeds arbitrary text to the parser and evaluator (Load,
// Plans, configuring provisioners and post-processors, and rendering the
// diagnostics). It must never panic.
func FuzzTemplate(f *testing.F) {
	for _, pattern := range []string{
		"../../testdata/templates/valid/*/*.pkr.hcl",
		"../../testdata/templates/invalid/*.pkr.hcl",
	} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err == nil && !strings.Contains(string(b), "bcrypt") {
				f.Add(b, false)
			}
		}
	}
	if jsons, _ := filepath.Glob("../../testdata/templates/valid/*/*.pkr.json"); len(jsons) > 0 {
		for _, p := range jsons {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, true)
			}
		}
	}
	f.Add([]byte(`{"source":{"test-builder":{"a":{"image":"x"}}},"build":{"sources":["source.test-builder.a"]}}`), true)
	// A secret computed inside for expressions: the per-element walk.
	f.Add([]byte(`variable "pw" {
  default   = ["s3cret-value"]
  sensitive = true
}
source "test-builder" "a" { image = "x" }
build {
  sources = ["source.test-builder.a"]
  provisioner "test-prov" {
    inline = [for i, s in var.pw : "echo ${i} ${upper(s)} ${[for c in [s] : c][0]}"]
  }
  post-processor "test-pp" {
    dynamic "step" {
      for_each = var.pw
      iterator = it
      content { cmd = "run ${upper(it.value)}" }
    }
  }
}
`), false)
	// bcrypt with a high cost would stall the fuzzer without finding
	// anything; every other function stays.
	saved := templateFunctions
	templateFunctions = func(dir string) map[string]function.Function {
		fns := saved(dir)
		delete(fns, "bcrypt")
		return fns
	}
	f.Cleanup(func() { templateFunctions = saved })

	f.Fuzz(func(t *testing.T, src []byte, asJSON bool) {
		name := "fuzz.pkr.hcl"
		if asJSON {
			name = "fuzz.pkr.json"
		}
		tpl, diags := loadInline(name, src, LoadOptions{})
		if !diags.HasErrors() {
			plans, d := tpl.Plans(nil, nil)
			diags = append(diags, d...)
			for _, p := range plans {
				for _, pr := range p.Provisioners {
					_, d := pr.Configure(nil)
					diags = append(diags, d...)
				}
				for _, chain := range p.PostProcessors {
					for _, pp := range chain {
						_, d := pp.Configure(nil)
						diags = append(diags, d...)
					}
				}
			}
		}
		w := hcl.NewDiagnosticTextWriter(io.Discard, tpl.Files(), 78, false)
		_ = w.WriteDiagnostics(diags)
	})
}
