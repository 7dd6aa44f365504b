// Package plugins imports every built-in builder, provisioner,
// post-processor and data source so that each registers itself (in its
// package's init) under its Packer type name. Import it for its side effect.
package plugins

import (
	_ "github.com/imgbuild/imgbuild/builders/amazonebs"
	_ "github.com/imgbuild/imgbuild/builders/docker"
	_ "github.com/imgbuild/imgbuild/builders/file"
	_ "github.com/imgbuild/imgbuild/builders/null"
	_ "github.com/imgbuild/imgbuild/builders/qemu"
	_ "github.com/imgbuild/imgbuild/datasources/amazonami"
	_ "github.com/imgbuild/imgbuild/datasources/amazonsecretsmanager"
	_ "github.com/imgbuild/imgbuild/datasources/http"
	_ "github.com/imgbuild/imgbuild/datasources/null"
	_ "github.com/imgbuild/imgbuild/postprocessors/artifice"
	_ "github.com/imgbuild/imgbuild/postprocessors/checksum"
	_ "github.com/imgbuild/imgbuild/postprocessors/compress"
	_ "github.com/imgbuild/imgbuild/postprocessors/dockerimport"
	_ "github.com/imgbuild/imgbuild/postprocessors/dockerpush"
	_ "github.com/imgbuild/imgbuild/postprocessors/dockersave"
	_ "github.com/imgbuild/imgbuild/postprocessors/dockertag"
	_ "github.com/imgbuild/imgbuild/postprocessors/manifest"
	_ "github.com/imgbuild/imgbuild/postprocessors/shelllocal"
	_ "github.com/imgbuild/imgbuild/provisioners/breakpoint"
	_ "github.com/imgbuild/imgbuild/provisioners/file"
	_ "github.com/imgbuild/imgbuild/provisioners/shell"
	_ "github.com/imgbuild/imgbuild/provisioners/shelllocal"
	_ "github.com/imgbuild/imgbuild/provisioners/sleep"
)
