// Package docker is Packer's docker builder ("docker") on the Docker
// Engine API: it starts a container from an image, hands it to the
// provisioners through its own communicator (exec for commands, the
// archive API for files), then commits it to an image, exports it to a
// tarball or discards it, and removes the container in every case.
//
// Unlike Packer's, a committed image keeps the base image's ENTRYPOINT and
// CMD unless changes sets them: the shell that keeps the build container
// alive never becomes the image's entrypoint.
package docker
