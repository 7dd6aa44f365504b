// Command imgbuild builds machine images from Packer HCL2 templates.
package main

import (
	"os"

	"github.com/imgbuild/imgbuild/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
