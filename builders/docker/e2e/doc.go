// Package e2e holds the docker builder's end-to-end tests: each runs a
// real build through the imgbuild command line against the local Docker
// engine and registries, then checks the result from outside (runs the
// image, asks the engine and the registry).
package e2e
