// Package dockersave is Packer's docker-save post-processor: it writes an
// image from the local engine to a tar file (docker save's format).
package dockersave
