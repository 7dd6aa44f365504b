// Package dockerimport is Packer's docker-import post-processor: it turns
// a tarball the docker builder exported (export_path) into an image in
// the local engine.
package dockerimport
