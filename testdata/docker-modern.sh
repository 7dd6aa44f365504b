#!/usr/bin/env bash
# Builds and starts a second, modern Docker Engine beside the host's: dockerd
# 28 with the containerd image store (the default of new Docker 29 installs:
# `docker save` writes the OCI layout, image ids are manifest digests). The
# docker tests run against it too (make test-docker-modern). Idempotent: the
# built binaries are reused (cached by version), a running engine is left
# alone, an image is reloaded only when the host engine's id of it changed.
#
#   $STATE_DIR/docker-modern/<versions>/   dockerd, containerd, containerd-shim-runc-v2
#   $STATE_DIR/docker-modern/docker.sock   the engine (`testdata/docker-modern.sh socket`
#                                          prints unix://... for DOCKER_HOST)
#   bridge imgbuild0 ($BRIDGE_CIDR)        its own: containers get an address the host
#                                          reaches (SSH communicator tests); no NAT
#   log: $STATE_DIR/docker-modern/dockerd.log
#
#   testdata/docker-modern.sh           build (when not cached), start, load the images
#   testdata/docker-modern.sh build     only build the binaries (no root needed)
#   testdata/docker-modern.sh socket    print the engine's address
#
# Never start such an engine with --bridge=none: dockerd then deletes the
# host engine's docker0 bridge.
set -euo pipefail

DOCKER_VERSION=28.5.2
CONTAINERD_VERSION=2.1.4 # the containerd client dockerd 28.5.2 vendors
STATE_DIR=${IMGBUILD_TEST_STATE:-/var/lib/imgbuild-test}
DIR=$STATE_DIR/docker-modern
BIN=$DIR/docker-$DOCKER_VERSION-containerd-$CONTAINERD_VERSION
SOCK=$DIR/docker.sock
BRIDGE=imgbuild0
BRIDGE_CIDR=${IMGBUILD_MODERN_BRIDGE_CIDR:-10.231.77.1/24}
IMAGES=(imgbuild-base:latest local/debian:bookworm local/debian-ansible:bookworm)

log() { printf 'docker-modern: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "${1:-}" = socket ]; then
  echo "unix://$SOCK"
  exit 0
fi

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9

# build_module MODULE@VERSION OUT TAGS LDFLAGS PKG...: builds PKGs of a
# module from the Go module proxy into OUT. docker/docker has no go.mod of
# its own (vendor.mod), so one is made from it.
build_module() {
  local mod=$1 out=$2 tags=$3 ldflags=$4; shift 4
  local src work
  src=$(cd / && GOFLAGS= go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] || die "go mod download $mod gave no folder"
  work=$(mktemp -d "$DIR/.work.XXXXXX")
  cp -r "$src/." "$work/"
  chmod -R u+w "$work"
  (
    cd "$work"
    export GOWORK=off GOFLAGS=-buildvcs=false
    if [ -f vendor.mod ]; then
      rm -rf vendor
      cp vendor.mod go.mod
      cp vendor.sum go.sum
    fi
    for pkg in "$@"; do
      nice go build -mod=mod -tags "$tags" -ldflags "$ldflags" -o "$out/" "$pkg"
    done
  ) >"$work.log" 2>&1 || { cat "$work.log" >&2; rm -rf "$work" "$work.log"; die "building $mod failed"; }
  rm -rf "$work" "$work.log"
}

if [ ! -x "$BIN/dockerd" ] || [ ! -x "$BIN/containerd" ] || [ ! -x "$BIN/containerd-shim-runc-v2" ]; then
  command -v go >/dev/null || die "go is not installed: the modern engine is built from source"
  command -v runc >/dev/null || die "runc is not installed (scripts/test-setup.sh installs docker.io, which brings it)"
  start=$SECONDS
  log "building dockerd $DOCKER_VERSION and containerd $CONTAINERD_VERSION (a few minutes)"
  tmp=$BIN.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  build_module "github.com/containerd/containerd/v2@v$CONTAINERD_VERSION" "$tmp" \
    'no_btrfs no_devmapper no_zfs' '' ./cmd/containerd ./cmd/containerd-shim-runc-v2
  build_module "github.com/docker/docker@v$DOCKER_VERSION+incompatible" "$tmp" \
    'exclude_graphdriver_btrfs exclude_graphdriver_devicemapper' \
    "-X github.com/docker/docker/dockerversion.Version=$DOCKER_VERSION" ./cmd/dockerd
  rm -rf "$BIN"
  mv "$tmp" "$BIN"
  log "built in $((SECONDS - start))s"
fi

[ "${1:-}" != build ] || exit 0
[ "$(id -u)" = 0 ] || die "starting a Docker Engine needs root"

host_docker=${DOCKER_HOST:-}
export DOCKER_HOST=unix://$SOCK
up() { docker info >/dev/null 2>&1; }

# The ecr_login tests reach the set-up's auth registry under the name of
# moto's ECR registry (an /etc/hosts entry for 127.0.0.1). The classic
# store's pushes treat a name that resolves to loopback as plain HTTP;
# this store's (containerd's resolver) need it listed.
CONFIG='{"features": {"containerd-snapshotter": true}, "insecure-registries": ["123456789012.dkr.ecr.us-east-1.amazonaws.com:5001"]}'
if up && [ "$(cat "$DIR/daemon.json" 2>/dev/null)" != "$CONFIG" ]; then
  # insecure-registries is one of the settings dockerd reloads on SIGHUP.
  printf '%s\n' "$CONFIG" >"$DIR/daemon.json"
  log "reloading dockerd's configuration (insecure registries)"
  kill -HUP "$(cat "$DIR/docker.pid")"
  sleep 1
fi

if ! up; then
  # The bridge: a /24 of its own that nothing in the routing table covers.
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    net=${BRIDGE_CIDR%.*}
    if ip route | grep -q "^${net}\."; then
      die "$BRIDGE_CIDR collides with a route (ip route); set IMGBUILD_MODERN_BRIDGE_CIDR"
    fi
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  printf '%s\n' "$CONFIG" >"$DIR/daemon.json"
  mkdir -p "$DIR/data" "$DIR/exec"
  log "starting dockerd $DOCKER_VERSION (containerd image store) on $SOCK"
  # setsid: the engine must outlive the shell that started it. PATH: dockerd
  # starts the containerd (and shim) found first on it.
  PATH=$BIN:$PATH setsid "$BIN/dockerd" --config-file "$DIR/daemon.json" \
    --data-root "$DIR/data" --exec-root "$DIR/exec" -H "unix://$SOCK" \
    --pidfile "$DIR/docker.pid" --bridge="$BRIDGE" --iptables=false --ip6tables=false \
    >"$DIR/dockerd.log" 2>&1 </dev/null 9>&- &
  for _ in $(seq 300); do up && break; sleep 0.2; done
  up || die "dockerd did not come up on $SOCK (see $DIR/dockerd.log)"
fi

# The images the docker tests use, from the host engine: save|load (an
# image pulled from the local registry into this engine was seen with its
# layer blobs missing from the content store). The stamp holds the host's id.
for img in "${IMAGES[@]}"; do
  id=$(DOCKER_HOST=$host_docker docker image inspect --format '{{.Id}}' "$img" 2>/dev/null) || continue
  stamp=$DIR/images/$(printf '%s' "$img" | tr '/:' '__')
  if [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] && docker image inspect "$img" >/dev/null 2>&1; then
    continue
  fi
  log "loading $img from the host engine"
  DOCKER_HOST=$host_docker docker save "$img" | docker load >/dev/null || die "loading $img into the modern engine failed"
  mkdir -p "$DIR/images"
  echo "$id" >"$stamp"
done
