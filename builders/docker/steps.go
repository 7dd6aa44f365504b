package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/dockerengine"
	"github.com/imgbuild/imgbuild/internal/ledger"
	"github.com/imgbuild/imgbuild/internal/steps"
)

// baseImage is the image the build starts from.
type baseImage struct {
	id     string
	digest string
	// config is the image's configuration as the engine reports it: the
	// committed image starts from it, not from the build container's.
	config *container.Config
}

// stepPull pulls the image (pull = true) and reads its configuration.
func stepPull(ctx context.Context, st *state) (steps.Cleanup, error) {
	cfg, ui := st.cfg, st.env.UI
	if *cfg.Pull && !st.pulled {
		ui.Say("Pulling Docker image: " + cfg.Image)
		login := dockerengine.Login{Enabled: cfg.Login, Server: cfg.LoginServer, Username: cfg.LoginUsername, Password: cfg.LoginPassword}
		if cfg.EcrLogin {
			// As in Packer: ecr_login replaces login and its user and password.
			ui.Message("Fetching ECR credentials...")
			user, password, err := awsclient.ECRLogin(ctx, cfg.ECRAccess.AccessConfig(), cfg.LoginServer)
			if err != nil {
				return nil, err
			}
			login = dockerengine.Login{Enabled: true, Server: cfg.LoginServer, Username: user, Password: password}
		}
		auth, err := login.RegistryAuth()
		if err != nil {
			return nil, err
		}
		rc, err := st.cli.ImagePull(ctx, cfg.Image, image.PullOptions{RegistryAuth: auth, Platform: cfg.Platform})
		if err == nil {
			_, err = dockerengine.ReadStream(rc, ui.Message)
			rc.Close()
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("pulling image %s: %w", cfg.Image, context.Cause(ctx))
			}
			// Offline, a copy already in the engine still lets the build
			// run; say so loudly rather than fail.
			if _, ierr := st.cli.ImageInspect(ctx, cfg.Image); ierr != nil {
				return nil, fmt.Errorf("pulling image %s: %w (to use an image that is already in the local engine, set pull = false)", cfg.Image, err)
			}
			ui.Error(fmt.Sprintf("Pulling %s failed (%v); using the copy already in the local engine (set pull = false to skip pulling)", cfg.Image, err))
		}
	}
	base, err := inspectImage(ctx, st.cli, cfg.Image)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("image %s is not in the local Docker engine and pull = false: load or build it first (`docker images` lists what is there), or set pull = true", cfg.Image)
		}
		return nil, fmt.Errorf("inspecting image %s: %w", cfg.Image, err)
	}
	st.base = base
	st.generated["SourceImageDigest"] = base.digest
	return nil, nil
}

func inspectImage(ctx context.Context, cli *client.Client, ref string) (baseImage, error) {
	var raw bytes.Buffer
	info, err := cli.ImageInspect(ctx, ref, client.ImageInspectWithRawResponse(&raw))
	if err != nil {
		return baseImage{}, err
	}
	// The raw document keeps every field of the engine's own config type.
	var doc struct{ Config *container.Config }
	if err := json.Unmarshal(raw.Bytes(), &doc); err != nil {
		return baseImage{}, fmt.Errorf("reading the configuration of image %s: %w", ref, err)
	}
	if doc.Config == nil {
		doc.Config = &container.Config{}
	}
	b := baseImage{id: info.ID, digest: info.ID, config: doc.Config}
	if len(info.RepoDigests) > 0 {
		if _, d, ok := strings.Cut(info.RepoDigests[0], "@"); ok {
			b.digest = d
		}
	}
	return b, nil
}

// stepCreate creates the build container; its cleanup removes it.
func stepCreate(ctx context.Context, st *state) (steps.Cleanup, error) {
	if st.reusedFinal != "" {
		return nil, nil // nothing to commit: see stepFindFinal
	}
	cfg, ui := st.cfg, st.env.UI
	conf := st.spec.config
	conf.Image = st.base.id
	from := cfg.Image
	if r := st.env.Resume; r != nil && r.Ref != "" {
		// The checkpoint's configuration is the base image's, so the
		// container is set up as a cold build's would be.
		conf.Image, from = r.Ref, fmt.Sprintf("checkpoint %s (after provisioner %d)", short(strings.TrimPrefix(r.Ref, "sha256:")), r.Steps)
	}
	host := st.spec.host
	host.Privileged = host.Privileged || cfg.Privileged
	host.CapAdd = append(host.CapAdd, cfg.CapAdd...)
	host.CapDrop = append(host.CapDrop, cfg.CapDrop...)
	if cfg.Runtime != "" {
		host.Runtime = cfg.Runtime
	}
	hosts := make([]string, 0, len(cfg.Volumes))
	for h := range cfg.Volumes {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		abs, err := filepath.Abs(h)
		if err != nil {
			return nil, fmt.Errorf("volumes: %q: %w", h, err)
		}
		host.Binds = append(host.Binds, abs+":"+cfg.Volumes[h])
	}
	for _, d := range cfg.Device {
		dm, err := parseDevice(d)
		if err != nil {
			return nil, fmt.Errorf("device: %w", err)
		}
		host.Devices = append(host.Devices, dm)
	}
	for _, t := range cfg.TmpFs {
		addTmpfs(&host, t)
	}
	platformName := cfg.Platform
	if platformName == "" {
		platformName = st.spec.platform
	}
	platform, err := optionalPlatform(platformName)
	if err != nil {
		return nil, err
	}
	name := st.spec.name
	if name == "" {
		name = containerName(st.env.Name)
	}

	if from != cfg.Image {
		ui.Say("Starting docker container from " + from + "...")
	} else {
		ui.Say("Starting docker container...")
	}
	// In the resource ledger before it exists, by name: if imgbuild is
	// killed outright, `imgbuild cleanup` finds it there. A ledger that
	// cannot be written is no reason to refuse the build: only a kill -9
	// would then leave the container unknown to cleanup.
	if err := st.recordContainer(ledger.Created, name); err != nil {
		ui.Error(err.Error() + "; if this build is killed, remove its container with docker rm -f " + name)
	}
	resp, err := st.cli.ContainerCreate(ctx, &conf, &host, nil, platform, name)
	if err != nil {
		// Cancelled mid-call, the engine may still have made the
		// container: remove it by name.
		return removeContainer(st, name, false), fmt.Errorf("creating the build container from %s: %w", from, err)
	}
	st.containerName = name
	st.containerID = resp.ID
	st.generated["ID"] = resp.ID
	// Said before starting it, so that a container that fails to start
	// is still named.
	if r := st.env.Resume; r != nil && r.Complete {
		ui.Message("Container ID: " + short(resp.ID) + " (not started: every provisioner is cached)")
	} else {
		ui.Message("Container ID: " + short(resp.ID))
	}
	for _, w := range resp.Warnings {
		ui.Message("Warning from the engine: " + w)
	}
	return removeContainer(st, resp.ID, true), nil
}

// recordContainer writes the build container's fate to the resource
// ledger. Without a ledger (no state directory) it does nothing: the
// ledger only serves `imgbuild cleanup` after a killed build.
func (st *state) recordContainer(action, name string) error {
	if err := st.record(dockerengine.KindContainer, action, name); err != nil {
		return fmt.Errorf("recording the build container %s in the resource ledger: %w", name, err)
	}
	return nil
}

// record writes what became of a resource of this build (kind, id) to
// the resource ledger, when there is one.
func (st *state) record(kind, action, id string) error {
	if st.ledger == nil {
		return nil
	}
	host, _ := os.Hostname()
	return st.ledger.Append(ledger.Entry{Run: st.env.RunUUID, Action: action, Kind: kind,
		ID: id, Endpoint: st.cli.DaemonHost(), Build: st.env.Name, PID: os.Getpid(), Host: host})
}

// removeContainer returns the cleanup that removes the build container
// (by id, or by name when its creation failed). A container already gone
// is not an error.
func removeContainer(st *state, ref string, say bool) steps.Cleanup {
	return func(ctx context.Context) error {
		if say {
			st.env.UI.Say("Removing the build container: " + short(ref))
		}
		name := st.containerName
		if name == "" {
			name = ref // its creation failed: ref is the name
		}
		return removeRecorded(ctx, st, ref, name)
	}
}

// removeRecorded removes the container ref and records in the resource
// ledger that the one created as name is gone.
func removeRecorded(ctx context.Context, st *state, ref, name string) error {
	err := st.cli.ContainerRemove(ctx, ref, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("removing container %s: %w (remove it with: docker rm -f %s)", short(ref), err, short(ref))
	}
	if err := st.recordContainer(ledger.Deleted, name); err != nil {
		st.env.UI.Error(err.Error())
	}
	return nil
}

// stepStart starts the container and checks that it keeps running.
func stepStart(ctx context.Context, st *state) (steps.Cleanup, error) {
	if err := st.cli.ContainerStart(ctx, st.containerID, container.StartOptions{}); err != nil {
		return nil, fmt.Errorf("starting container %s: %w", short(st.containerID), err)
	}
	info, err := st.cli.ContainerInspect(ctx, st.containerID)
	if err != nil {
		return nil, fmt.Errorf("inspecting container %s: %w", short(st.containerID), err)
	}
	if info.State == nil || !info.State.Running {
		code := -1
		if info.State != nil {
			code = info.State.ExitCode
		}
		tty := info.Config != nil && info.Config.Tty
		return nil, fmt.Errorf("the build container exited as soon as it started (exit code %d): run_command must start a process that keeps running, as the default interactive /bin/sh does%s",
			code, containerLogs(ctx, st.cli, st.containerID, tty))
	}
	if info.Config != nil {
		st.workDir = info.Config.WorkingDir
	}
	if info.NetworkSettings != nil {
		st.generated["Host"] = info.NetworkSettings.IPAddress
	}
	return nil, nil
}

// containerLogs returns the end of the container's output, for errors.
// Without a terminal the engine multiplexes stdout and stderr in frames.
func containerLogs(ctx context.Context, cli *client.Client, id string, tty bool) string {
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var out bytes.Buffer
	w := &limitedWriter{w: &out, n: 4096}
	if tty {
		_, _ = io.Copy(w, rc)
	} else {
		_, _ = stdcopy.StdCopy(w, w, rc)
	}
	text := strings.TrimSpace(strings.ToValidUTF8(out.String(), "?"))
	if text == "" {
		return ""
	}
	return "; its output:\n" + text + "\n"
}

// limitedWriter keeps the first n bytes and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	keep := min(len(p), l.n)
	if keep > 0 {
		if _, err := l.w.Write(p[:keep]); err != nil {
			return 0, err
		}
		l.n -= keep
	}
	return len(p), nil
}

// stepProvision hands the running container to the provisioners.
func stepProvision(ctx context.Context, st *state) (steps.Cleanup, error) {
	if st.env.Provision == nil {
		return nil, nil
	}
	comm, closeComm, err := communicatorFor(ctx, st)
	if err != nil {
		return nil, err
	}
	defer closeComm()
	return nil, st.env.Provision(ctx, comm, st.generated)
}

// stepCommit commits the container. The image's configuration is the base
// image's plus changes: the build container's keep-alive entrypoint, its
// name and hostname do not get into the image.
func stepCommit(ctx context.Context, st *state) (steps.Cleanup, error) {
	if st.reusedFinal != "" {
		reuseFinal(st)
		return nil, nil
	}
	ui := st.env.UI
	ui.Say("Committing the container")
	opts := finalCommitOptions(st)
	var id string
	var err error
	if ckpt := st.checkpointed.Load(); ckpt != nil {
		id, err = commitFromCheckpoint(ctx, st, *ckpt, opts)
	} else {
		var resp container.CommitResponse
		resp, err = st.cli.ContainerCommit(ctx, st.containerID, opts)
		id = resp.ID
	}
	if err != nil {
		return nil, fmt.Errorf("committing container %s: %w (check the changes option)", short(st.containerID), err)
	}
	ui.Message("Image ID: " + id)
	recordFinal(st, opts, id)
	st.generated["ImageSha256"] = id
	st.artifact = &dockerengine.ImageArtifact{
		BuilderIDValue: dockerengine.BuilderIDImage,
		Ref:            id,
		Generated:      st.generated,
	}
	return nil, nil
}

// finalCommitOptions are the options the final image is committed with.
func finalCommitOptions(st *state) container.CommitOptions {
	return container.CommitOptions{
		Comment: st.cfg.Message,
		Author:  st.cfg.Author,
		Changes: commitChanges(st.cfg.Changes),
		Pause:   true,
		Config:  commitConfig(st.base.config),
	}
}

// commitFromCheckpoint makes the final image from the checkpoint the
// build container has not changed since: the commit of a container
// created (not started) from it adds no layer, where committing the build
// container would copy everything the build wrote once more. The image has
// the same layers and configuration; its history names the checkpoint
// too, as that of a rebuild with every step cached does.
func commitFromCheckpoint(ctx context.Context, st *state, ckpt string, opts container.CommitOptions) (string, error) {
	conf := st.spec.config
	conf.Image = ckpt
	name := containerName(st.env.Name)
	if err := st.recordContainer(ledger.Created, name); err != nil {
		st.env.UI.Error(err.Error() + "; if this build is killed, remove its container with docker rm -f " + name)
	}
	defer func() {
		if err := removeRecorded(context.WithoutCancel(ctx), st, name, name); err != nil {
			st.env.UI.Error(err.Error())
		}
	}()
	if _, err := st.cli.ContainerCreate(ctx, &conf, nil, nil, nil, name); err != nil {
		return "", fmt.Errorf("creating a container from checkpoint %s: %w", short(ckpt), err)
	}
	resp, err := st.cli.ContainerCommit(ctx, name, opts)
	return resp.ID, err
}

// commitConfig is the configuration the engine starts the committed
// image's from. The engine fills what is empty in it from the container's
// configuration; an empty (not nil) entrypoint stops it from filling in the
// keep-alive entrypoint (engines from 20.10 on honour the difference).
func commitConfig(base *container.Config) *container.Config {
	c := *base
	if c.Entrypoint == nil {
		c.Entrypoint = []string{}
	}
	return &c
}

var emptyEntrypoint = regexp.MustCompile(`(?i)^\s*ENTRYPOINT\s*\[\s*\]\s*$`)

// commitChanges passes the changes on, except that "ENTRYPOINT []" (no
// entrypoint) becomes `ENTRYPOINT [""]`, which means the same to the
// engine without letting it fill in the build container's entrypoint.
func commitChanges(changes []string) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		if emptyEntrypoint.MatchString(c) {
			c = `ENTRYPOINT [""]`
		}
		out[i] = c
	}
	return out
}

// stepExport writes the container's file system to export_path.
func stepExport(ctx context.Context, st *state) (steps.Cleanup, error) {
	ui, path := st.env.UI, st.cfg.ExportPath
	ui.Say("Exporting the container to " + path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("exporting to %s: %w", path, err)
	}
	// A temporary file beside the target: a failed or cancelled export
	// never leaves a truncated tarball under the final name. It is removed
	// here, not by a cleanup, so that -on-error=abort (which keeps the
	// container for inspection) does not keep a useless partial file too.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".imgbuild-*")
	if err != nil {
		return nil, fmt.Errorf("exporting to %s: %w", path, err)
	}
	if err := exportTo(ctx, st, tmp, path); err != nil {
		tmp.Close()
		if rerr := os.Remove(tmp.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = fmt.Errorf("%w; the partial file %s could not be removed: %v", err, tmp.Name(), rerr)
		}
		return nil, err
	}
	ui.Message("Exported to " + path)
	st.artifact = &dockerengine.FileArtifact{Path: path, Generated: st.generated}
	return nil, nil
}

// exportTo streams the container's file system into tmp, then renames tmp
// to path.
func exportTo(ctx context.Context, st *state, tmp *os.File, path string) error {
	rc, err := st.cli.ContainerExport(ctx, st.containerID)
	if err != nil {
		return fmt.Errorf("exporting container %s: %w", short(st.containerID), err)
	}
	r := st.env.UI.TrackProgress("Exporting "+filepath.Base(path), -1, rc)
	_, err = io.Copy(tmp, r)
	r.Close()
	if err == nil {
		err = tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return fmt.Errorf("exporting container %s to %s: %w", short(st.containerID), path, err)
	}
	return nil
}

// stepDiscard leaves nothing: the cleanup removes the container.
func stepDiscard(_ context.Context, st *state) (steps.Cleanup, error) {
	st.env.UI.Say("Discarding the container")
	st.artifact = &dockerengine.FileArtifact{Generated: st.generated}
	return nil, nil
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

func containerName(build string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	n := strings.Trim(unsafeName.ReplaceAllString(build, "-"), "-.")
	if len(n) > 40 {
		n = n[:40]
	}
	return dockerengine.ContainerNamePrefix + n + "-" + hex.EncodeToString(b[:])
}

func optionalPlatform(v string) (*ocispec.Platform, error) {
	if v == "" {
		return nil, nil
	}
	p, err := parsePlatform(v)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	return p, nil
}
