// Package dockertag is Packer's docker-tag post-processor: it tags the
// image a docker build committed (or docker-import imported) into a
// repository, in the local engine.
package dockertag
