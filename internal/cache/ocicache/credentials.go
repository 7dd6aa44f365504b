package ocicache

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

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

// dockerCredentials finds the login `docker login host` stored, as the
// docker CLI does, through docker's config.json ($DOCKER_CONFIG/config.json,
// else ~/.docker/config.json): the credential helper named for host
// (credHelpers) or for every registry (credsStore), run as
// `docker-credential-<name> get`; else the "auth" (base64 user:password)
// or username/password of the entry for host. No file, no login:
// anonymous.
func dockerCredentials(ctx context.Context, host string) (Credentials, error) {
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
		CredsStore  string            `json:"credsStore"`
		CredHelpers map[string]string `json:"credHelpers"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return Credentials{}, fmt.Errorf("reading docker's credentials in %s: %w", path, err)
	}
	helper := cfg.CredsStore
	for server, h := range cfg.CredHelpers {
		if serverHost(server) == host {
			helper = h
		}
	}
	if helper != "" {
		c, found, err := fromHelper(ctx, helper, host)
		if err != nil || found {
			return c, err
		}
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

// fromHelper asks docker-credential-<name> for host's login (the server
// on its stdin, the login as JSON on its stdout); found is false when
// the helper has none.
func fromHelper(ctx context.Context, name, host string) (Credentials, bool, error) {
	bin := "docker-credential-" + name
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "get")
	cmd.Stdin = strings.NewReader(host)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// The helpers say so on stdout or stderr, in these words.
		if strings.Contains(string(out)+stderr.String(), "credentials not found") {
			return Credentials{}, false, nil
		}
		return Credentials{}, false, fmt.Errorf("asking %s for the login of %s: %v: %s", bin, host, err, strings.TrimSpace(stderr.String()))
	}
	var c struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil {
		return Credentials{}, false, fmt.Errorf("reading what %s says for %s: %w", bin, host, err)
	}
	secret.Add(c.Secret)
	if c.Username == "<token>" {
		return Credentials{}, false, fmt.Errorf("%s holds an identity token for %s, which imgbuild cannot use: log in with a password or access token", bin, host)
	}
	return Credentials{Username: c.Username, Password: c.Secret}, true, nil
}

// serverHost is the host[:port] of a config.json key, which may be a URL
// ("https://index.docker.io/v1/").
func serverHost(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	return s
}
