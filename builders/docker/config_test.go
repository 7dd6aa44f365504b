package docker

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepareRejectsWrongCombinationsWithAdvice(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		set  func(c *Config)
		want string // "" means no error
	}{
		{"commit alone is fine", func(c *Config) { c.Commit = true }, ""},
		{"nothing to do with the container", func(c *Config) {}, "set one of commit"},
		{"commit and discard", func(c *Config) { c.Commit, c.Discard = true, true }, "only one"},
		{"commit and export_path", func(c *Config) { c.Commit, c.ExportPath = true, "x.tar" }, "only one"},
		{"export_path is a folder", func(c *Config) { c.ExportPath = dir }, "is a directory"},
		{"no image", func(c *Config) { c.Commit, c.Image = true, " " }, "image must be set"},
		{"instruction not allowed at commit", func(c *Config) { c.Commit, c.Changes = true, []string{"RUN echo"} }, "changes[0]"},
		{"lower-case instructions are fine", func(c *Config) { c.Commit, c.Changes = true, []string{"env A=b", "Cmd [\"x\"]"} }, ""},
		{"unknown run option", func(c *Config) { c.Commit, c.RunCommand = true, []string{"--bogus", "{{.Image}}"} }, "--bogus"},
		{"run_command without the image", func(c *Config) { c.Commit, c.RunCommand = true, []string{"-d"} }, "{{.Image}}"},
		{"bad device", func(c *Config) { c.Commit, c.Device = true, []string{"sda"} }, "absolute"},
		{"bad platform", func(c *Config) { c.Commit, c.Platform = true, "amd64" }, "OS/ARCH"},
		{"ecr_login without server", func(c *Config) { c.Commit, c.EcrLogin = true, true }, "login_server"},
		{"login without password", func(c *Config) { c.Commit, c.Login, c.LoginUsername = true, true, "u" }, "login_password"},
		{"windows containers", func(c *Config) { c.Commit, c.WindowsContainer = true, true }, "windows_container"},
		{"unknown communicator", func(c *Config) { c.Commit = true; c.Type = "telnet" }, "telnet"},
		{"ssh needs a user", func(c *Config) { c.Commit = true; c.Type = "ssh" }, "ssh_username"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{Image: "base:1"}
			c.set(cfg)
			_, err := cfg.Prepare()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestPrepareFillsPackersDefaults(t *testing.T) {
	cfg := &Config{Image: "base:1", Commit: true}
	if _, err := cfg.Prepare(); err != nil {
		t.Fatal(err)
	}
	if !*cfg.Pull || !*cfg.FixUploadOwner || cfg.Type != "docker" || cfg.ContainerDir != "/packer-files" ||
		strings.Join(cfg.RunCommand, " ") != "-d -i -t --entrypoint=/bin/sh -- {{.Image}}" {
		t.Errorf("defaults: pull %v, fix_upload_owner %v, communicator %q, container_dir %q, run_command %q",
			*cfg.Pull, *cfg.FixUploadOwner, cfg.Type, cfg.ContainerDir, cfg.RunCommand)
	}
}

func TestRunCommandBecomesEngineSettings(t *testing.T) {
	s, err := parseRunCommand([]string{
		"-dit", "--entrypoint", "/bin/bash", "-e", "A=1", "--env=B=2", "-v", "/h:/c:ro", "--privileged",
		"-u", "1000:1000", "--workdir=/w", "--net", "host", "--label", "k=v", "--tmpfs", "/run:size=1m",
		"--cap-add=NET_ADMIN", "--shm-size", "64m", "--", "{{ .Image }}", "-c", "sleep infinity",
	}, "base:1")
	if err != nil {
		t.Fatal(err)
	}
	c, h := s.config, s.host
	checks := map[string]bool{
		"stdin and tty":   c.OpenStdin && c.Tty,
		"entrypoint":      strings.Join(c.Entrypoint, " ") == "/bin/bash",
		"cmd after image": strings.Join(c.Cmd, "|") == "-c|sleep infinity",
		"env":             strings.Join(c.Env, ",") == "A=1,B=2",
		"binds":           strings.Join(h.Binds, ",") == "/h:/c:ro",
		"privileged":      h.Privileged,
		"user, workdir":   c.User == "1000:1000" && c.WorkingDir == "/w",
		"network":         h.NetworkMode == "host",
		"label":           c.Labels["k"] == "v",
		"tmpfs":           h.Tmpfs["/run"] == "size=1m",
		"cap-add":         len(h.CapAdd) == 1 && h.CapAdd[0] == "NET_ADMIN",
		"shm-size":        h.ShmSize == 64<<20,
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s not read: config %+v host %+v", what, c, h)
		}
	}
}

func TestRunCommandNamesAnotherImage(t *testing.T) {
	_, err := parseRunCommand([]string{"-d", "other:2"}, "base:1")
	if err == nil || !strings.Contains(err.Error(), "{{.Image}}") {
		t.Errorf("err = %v", err)
	}
}

func TestUploadTarNamesStayInsideTheTarget(t *testing.T) {
	for in, want := range map[string]string{"a/b/c": "b/c", "a": "", "/a/b": "b", "a/../../x/y": "y"} {
		if got := stripFirst(in); got != want {
			t.Errorf("stripFirst(%q) = %q, want %q", in, got, want)
		}
	}
	if !excluded(filepath.Join("sub", "x.log"), []string{"sub/*.log"}) || excluded("x.txt", []string{"*.log"}) {
		t.Error("exclude patterns are not matched on the path relative to the source")
	}
}
