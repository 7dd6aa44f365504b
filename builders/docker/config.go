package docker

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/communicator"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/secret"
)

// Config is the docker source block, with Packer's option names.
type Config struct {
	// Image is the base image (required).
	Image string `hcl:"image"`
	// Pull the image first; Packer's default is true. There is nothing to
	// pull from here, so templates set pull = false for local images.
	Pull *bool `hcl:"pull,optional"`

	// Exactly one of Commit, Discard and ExportPath says what becomes of
	// the container.
	Commit     bool   `hcl:"commit,optional"`
	Discard    bool   `hcl:"discard,optional"`
	ExportPath string `hcl:"export_path,optional"`

	// Changes are Dockerfile instructions applied when committing.
	Changes []string `hcl:"changes,optional"`
	Message string   `hcl:"message,optional"`
	Author  string   `hcl:"author,optional"`

	// RunCommand is the `docker run` argument list that starts the build
	// container; imgbuild reads it into Engine API settings.
	RunCommand []string `hcl:"run_command,optional"`
	// Volumes maps host paths to container paths.
	Volumes      map[string]string `hcl:"volumes,optional"`
	ContainerDir string            `hcl:"container_dir,optional"`
	Privileged   bool              `hcl:"privileged,optional"`
	CapAdd       []string          `hcl:"cap_add,optional"`
	CapDrop      []string          `hcl:"cap_drop,optional"`
	Device       []string          `hcl:"device,optional"`
	TmpFs        []string          `hcl:"tmpfs,optional"`
	Platform     string            `hcl:"platform,optional"`
	Runtime      string            `hcl:"runtime,optional"`
	// ExecUser runs the provisioners' commands ("user", "uid" or "uid:gid").
	ExecUser string `hcl:"exec_user,optional"`
	// FixUploadOwner gives uploaded files to the user commands run as;
	// default true.
	FixUploadOwner *bool `hcl:"fix_upload_owner,optional"`

	// Accepted for compatibility; see Prepare.
	Pty                bool   `hcl:"pty,optional"`
	DockerPath         string `hcl:"docker_path,optional"`
	WindowsContainer   bool   `hcl:"windows_container,optional"`
	RemoveContainerDir bool   `hcl:"remove_container_dir,optional"`

	// Registry login for pulling the base image.
	Login         bool   `hcl:"login,optional"`
	LoginServer   string `hcl:"login_server,optional"`
	LoginUsername string `hcl:"login_username,optional"`
	LoginPassword string `hcl:"login_password,optional"`
	EcrLogin      bool   `hcl:"ecr_login,optional"`
	awsclient.ECRAccess

	communicator.Config
}

// CommunicatorType is the builder's own communicator: Engine API exec and
// archive calls.
const CommunicatorType = "docker"

// DefaultContainerDir is Packer's container_dir default.
const DefaultContainerDir = "/packer-files"

// defaultRunCommand keeps the container alive with an interactive shell,
// as Packer does; imgbuild does not let that entrypoint into the image.
var defaultRunCommand = []string{"-d", "-i", "-t", "--entrypoint=/bin/sh", "--", "{{.Image}}"}

// Prepare fills Packer's defaults and checks the combinations.
func (c *Config) Prepare() ([]string, error) {
	var warnings []string
	var errs []error
	secret.Add(c.LoginPassword, c.SecretKey, c.Token)

	if c.Pull == nil {
		t := true
		c.Pull = &t
	}
	if c.FixUploadOwner == nil {
		t := true
		c.FixUploadOwner = &t
	}
	if len(c.RunCommand) == 0 {
		c.RunCommand = defaultRunCommand
	}
	if c.ContainerDir == "" {
		c.ContainerDir = DefaultContainerDir
	}
	if strings.TrimSpace(c.Image) == "" {
		errs = append(errs, errors.New("image must be set: the base image to start the build container from"))
	}

	uses := 0
	for _, set := range []bool{c.Commit, c.Discard, c.ExportPath != ""} {
		if set {
			uses++
		}
	}
	switch {
	case uses == 0:
		errs = append(errs, errors.New("no instructions given for the container: set one of commit = true, discard = true or export_path"))
	case uses > 1:
		errs = append(errs, errors.New("commit, discard and export_path exclude each other: set only one"))
	}
	if c.ExportPath != "" {
		if st, err := os.Stat(c.ExportPath); err == nil && st.IsDir() {
			errs = append(errs, fmt.Errorf("export_path %q is a directory: give the path of the tar file to write", c.ExportPath))
		}
	}
	if len(c.Changes) > 0 && !c.Commit {
		warnings = append(warnings, "changes only apply with commit = true; they are ignored here")
	}
	for i, ch := range c.Changes {
		if err := dockerengine.CheckChange(ch); err != nil {
			errs = append(errs, fmt.Errorf("changes[%d]: %w", i, err))
		}
	}
	if _, err := parseRunCommand(c.RunCommand, c.Image); err != nil {
		errs = append(errs, fmt.Errorf("run_command: %w", err))
	}
	for i, d := range c.Device {
		if _, err := parseDevice(d); err != nil {
			errs = append(errs, fmt.Errorf("device[%d]: %w", i, err))
		}
	}
	for host, ctr := range c.Volumes {
		if host == "" || ctr == "" || !strings.HasPrefix(ctr, "/") {
			errs = append(errs, fmt.Errorf("volumes: %q = %q: give an absolute container path for each host path", host, ctr))
		}
	}
	if c.Platform != "" {
		if _, err := parsePlatform(c.Platform); err != nil {
			errs = append(errs, fmt.Errorf("platform: %w", err))
		}
	}
	if c.WindowsContainer {
		errs = append(errs, errors.New("windows_container is not supported by imgbuild: build Windows containers with Packer on a Windows host"))
	}
	if c.EcrLogin && c.LoginServer == "" {
		errs = append(errs, errors.New("ecr_login needs login_server (the ECR registry address)"))
	}
	if c.Login && !c.EcrLogin && (c.LoginUsername == "" || c.LoginPassword == "") {
		errs = append(errs, errors.New("login = true needs login_username and login_password"))
	}
	if c.DockerPath != "" {
		warnings = append(warnings, "docker_path is ignored: imgbuild talks to the Docker Engine API, not to a docker command")
	}

	if c.Type == "" {
		c.Type = CommunicatorType
	}
	cw, err := c.Config.Prepare(CommunicatorType)
	warnings = append(warnings, cw...)
	if err != nil {
		errs = append(errs, err)
	}
	return warnings, errors.Join(errs...)
}
