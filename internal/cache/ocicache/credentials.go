package ocicache

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/secret"
)

// Credentials are a registry login; empty for anonymous access.
type Credentials struct {
	Username string
	Password string
}

// Login is the same login for the Docker Engine's pushes and pulls.
func (c Credentials) Login(host string) dockerengine.Login {
	return dockerengine.Login{Enabled: c.Username != "", Server: host, Username: c.Username, Password: c.Password}
}

// dockerCredentials reads the login `docker login host` stored in docker's
// config.json ($DOCKER_CONFIG/config.json, else ~/.docker/config.json):
// the "auth" (base64 user:password) or username/password of the entry
// for host. No file, no entry: anonymous. Credential helpers (credsStore)
// are not run: a registry that needs them is reached anonymously, and its
// refusal says to log in.
func dockerCredentials(host string) (Credentials, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Credentials{}, nil
		}
		dir = filepath.Join(home, ".docker")
	}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Credentials{}, nil
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("reading docker's credentials: %w", err)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return Credentials{}, fmt.Errorf("reading docker's credentials in %s: %w", path, err)
	}
	for server, a := range cfg.Auths {
		if serverHost(server) != host {
			continue
		}
		c := Credentials{Username: a.Username, Password: a.Password}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return Credentials{}, fmt.Errorf("reading docker's credentials for %s in %s: the auth value is not base64", host, path)
			}
			c.Username, c.Password, _ = strings.Cut(string(raw), ":")
		}
		secret.Add(c.Password)
		return c, nil
	}
	return Credentials{}, nil
}

// serverHost is the host[:port] of a config.json key, which may be a URL
// ("https://index.docker.io/v1/").
func serverHost(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	return s
}
