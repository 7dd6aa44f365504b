// Package dockerpush is Packer's docker-push post-processor: it pushes an
// image tagged by docker-tag or docker-import to its registry, logging in
// with the given credentials for the push only.
package dockerpush
