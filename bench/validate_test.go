package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// BenchmarkValidateLargeTemplate runs `imgbuild validate` on a generated
// template with 200 sources and 200 builds (each with provisioners and a
// post-processor), and `imgbuild version` in the same run, and reports
// validate's whole-process time (s-validate; target: no slower than
// 50 ms) and its ratio to version's (x-version). A run takes 10-40 ms and
// on a shared virtual
// machine a few take twice as long, so each iteration alternates the two
// commands pairsPerIteration times and the ratio is of the medians.
func BenchmarkValidateLargeTemplate(b *testing.B) {
	benchmarkValidate(b, largeTemplate(200))
}

// BenchmarkValidateManyLocals validates 40,000 locals, each referring to
// the one before: linear evaluation takes a fraction of a second where
// rebuilding every local's context took minutes.
func BenchmarkValidateManyLocals(b *testing.B) {
	benchmarkValidate(b, localsChain(40000))
}

// benchmarkValidate reports the median time of `imgbuild validate` on src
// (s-validate) and its ratio to `imgbuild version` (x-version), the two
// alternated pairsPerIteration times per iteration.
func benchmarkValidate(b *testing.B, src string) {
	const pairsPerIteration = 25
	bin := testenv.Binary(b)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "large.pkr.hcl"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(bin, "validate", dir).CombinedOutput(); err != nil {
		b.Fatalf("the generated template does not validate: %v\n%s", err, out)
	}
	timeRun := func(args ...string) time.Duration {
		start := time.Now()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			b.Fatalf("imgbuild %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return time.Since(start)
	}
	var validate, version []time.Duration
	for i := 0; i < b.N*pairsPerIteration; i++ {
		validate = append(validate, timeRun("validate", dir))
		version = append(version, timeRun("version"))
	}
	mv, mr := median(validate), median(version)
	b.ReportMetric(mv.Seconds(), "s-validate")
	b.ReportMetric(mr.Seconds(), "s-version")
	b.ReportMetric(float64(mv)/float64(mr), "x-version")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// largeTemplate writes n variables, n docker sources and n builds.
func largeTemplate(n int) string {
	var sb strings.Builder
	sb.WriteString("locals {\n  base = \"imgbuild-base:latest\"\n}\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, `variable "tag_%[1]d" {
  type    = string
  default = "v%[1]d"
}
source "docker" "s%[1]d" {
  image   = local.base
  commit  = true
  changes = ["ENV N=%[1]d", "LABEL tag=${var.tag_%[1]d}"]
}
build {
  name    = "b%[1]d"
  sources = ["source.docker.s%[1]d"]
  provisioner "shell" {
    inline = ["echo ${build.ID} ${source.name}", "echo %[1]d > /n"]
  }
  provisioner "file" {
    content     = "hello ${upper(var.tag_%[1]d)}"
    destination = "/tmp/hello-%[1]d"
  }
  post-processor "docker-tag" {
    repository = "bench/s%[1]d"
    tags       = [var.tag_%[1]d]
  }
}
`, i)
	}
	return sb.String()
}

// localsChain writes n locals, each referring to the one before, and a
// build that uses the last.
func localsChain(n int) string {
	var sb strings.Builder
	sb.WriteString("locals {\n  l0 = \"imgbuild-base:latest\"\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, "  l%d = local.l%d\n", i, i-1)
	}
	fmt.Fprintf(&sb, "}\nsource \"docker\" \"s\" {\n  image  = local.l%d\n  commit = true\n}\n", n-1)
	sb.WriteString("build {\n  sources = [\"source.docker.s\"]\n}\n")
	return sb.String()
}
