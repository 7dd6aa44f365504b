package dockerengine

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"

	"github.com/imgbuild/imgbuild/internal/secret"
)

// Login holds the login, login_server, login_username and login_password
// options that the builder and docker-push share.
type Login struct {
	Enabled  bool
	Server   string
	Username string
	Password string
}

// RegistryAuth returns the X-Registry-Auth value for a pull or push: the
// credentials when login is on, an empty credential otherwise (anonymous
// access, as an open registry wants).
func (l Login) RegistryAuth() (string, error) {
	if !l.Enabled {
		return registry.EncodeAuthConfig(registry.AuthConfig{})
	}
	secret.Add(l.Password)
	return registry.EncodeAuthConfig(registry.AuthConfig{
		Username:      l.Username,
		Password:      l.Password,
		ServerAddress: l.Server,
	})
}

// Check asks the engine to verify the credentials against the registry, so
// that a wrong password fails with a clear message before any transfer.
// Nothing is stored: unlike `docker login`, there is nothing to log out of.
func (l Login) Check(ctx context.Context, cli *client.Client) error {
	if !l.Enabled {
		return nil
	}
	secret.Add(l.Password)
	_, err := cli.RegistryLogin(ctx, registry.AuthConfig{
		Username:      l.Username,
		Password:      l.Password,
		ServerAddress: l.Server,
	})
	if err != nil {
		return fmt.Errorf("logging in to registry %q as %q: %s (check login_server, login_username and login_password)",
			l.Server, l.Username, secret.Mask(err.Error()))
	}
	return nil
}
