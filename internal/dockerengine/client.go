// Package dockerengine holds what the docker builder and the docker-*
// post-processors share: a client for the local Docker Engine API, the
// decoding of the engine's JSON progress streams, registry credentials,
// and the image artifact they pass along.
package dockerengine

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/client"
)

// Connect returns a client for the engine named by the environment
// (DOCKER_HOST, DOCKER_CERT_PATH, ...; the local socket by default), with
// the API version negotiated down to the engine's (Debian ships 20.10).
// It pings the engine so that a missing engine fails here, with advice,
// rather than in the middle of a build.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("configuring the Docker Engine client: %w (check DOCKER_HOST and DOCKER_CERT_PATH)", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ping, err := cli.Ping(pctx)
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("connecting to the Docker Engine at %s: %w (is dockerd running? `docker info` should answer)", cli.DaemonHost(), err)
	}
	// The ping already carries the engine's API version: no second call.
	cli.NegotiateAPIVersionPing(ping)
	return cli, nil
}
