#!/usr/bin/env bash
# Installs and starts everything imgbuild's tests and demo need, on a fresh
# Debian machine, as root. Idempotent: what is installed or running already
# is left alone. Called by `make test` and `make demo`.
#
#   scripts/test-setup.sh            everything (tests)
#   scripts/test-setup.sh docker     only the Docker engine and base image (demo)
#
# What it provides (tests find these at the same addresses):
#   dockerd                 the local engine (unix socket)
#   modern dockerd          dockerd 28 with the containerd image store, a second engine on
#                           $STATE_DIR/docker-modern/docker.sock, bridge imgbuild0, with the
#                           images above loaded (testdata/docker-modern.sh; make test-docker-modern)
#   imgbuild-base:latest    a busybox-static image made locally (no registry can be pulled from)
#   registry                Debian's docker-registry, open, on 127.0.0.1:5000
#   auth registry           the same with htpasswd basic auth, on 127.0.0.1:5001 (docker-push login tests),
#                           also as 123456789012.dkr.ecr.us-east-1.amazonaws.com:5001 (an /etc/hosts
#                           entry: the name of moto's ECR registry) taking moto's ECR login (ecr_login tests)
#   moto_server             the EC2 emulator on 127.0.0.1:5055
#   versitygw               an S3-compatible server on 127.0.0.1:5070 (testdata/s3-server.sh; shared cache)
#   sshd, qemu, qemu-img    binaries only; tests start their own instances
#   test VM image           testdata/vm/ (built by testdata/make-test-vm.sh, cached)
#   ansible-core            $STATE_DIR/ansible-venv/bin (not on PATH; tests add it)
#   vcsim                   $STATE_DIR/vcsim/vcsim (from testdata/vcsim; tests start their own)
#   Packer plugins          $STATE_DIR/packer-plugins/<name>/<version>/ (testdata/packer-plugins.sh)
#   Debian bookworm guests  local/debian:bookworm, local/debian-ansible:bookworm and the VM in
#                           $STATE_DIR/debian/vm (testdata/make-debian.sh, from Debian's mirror)
set -euo pipefail

STATE_DIR=${IMGBUILD_TEST_STATE:-/var/lib/imgbuild-test}
BASE_IMAGE=${IMGBUILD_BASE_IMAGE:-imgbuild-base:latest}
REGISTRY_ADDR=127.0.0.1:5000
MOTO_ADDR=127.0.0.1:5055
HERE=$(cd "$(dirname "$0")/.." && pwd)

log() { printf 'test-setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    die "installing $* needs root; run as root or install it yourself"
  fi
}

# apt_install PKG...: installs the packages that are not installed yet.
apt_updated=
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root "${missing[*]}"
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# wait_for DESC SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
wait_for() {
  local desc=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$desc did not come up within ${secs}s"
    sleep 0.2
  done
}

setup_docker() {
  apt_install docker.io busybox-static ca-certificates iptables
  mkdir -p "$STATE_DIR"
  if ! docker info >/dev/null 2>&1; then
    need_root "dockerd"
    log "starting dockerd"
    # setsid: the engine must outlive the shell that started it.
    setsid dockerd >"$STATE_DIR/dockerd.log" 2>&1 </dev/null &
    wait_for dockerd 60 docker info
  fi
  if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "importing $BASE_IMAGE from busybox-static"
    local root
    root=$(mktemp -d)
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,var,proc,sys,dev,run}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    local applet
    for applet in $("$root/bin/busybox" --list); do
      [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"
  fi
}

# ensure_registry NAME CONFIG_TEXT READY_CMD...: runs docker-registry with
# $STATE_DIR/NAME.yml holding CONFIG_TEXT. Started when READY_CMD fails;
# restarted when the config on disk differs (an older set-up's), so that
# a changed setting takes effect; left alone otherwise. The content in
# $STATE_DIR/NAME/ is kept.
ensure_registry() {
  local name=$1 want=$2; shift 2
  local cfg="$STATE_DIR/$name.yml"
  mkdir -p "$STATE_DIR/$name"
  if [ "$(cat "$cfg" 2>/dev/null)" != "$want" ]; then
    local pid
    pid=$(pgrep -xf "/usr/bin/docker-registry serve $cfg" || true)
    if [ -n "$pid" ]; then
      log "restarting docker-registry $name: its configuration changed"
      kill $pid
      for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    fi
    printf '%s\n' "$want" >"$cfg"
  fi
  if ! "$@" >/dev/null 2>&1; then
    log "starting docker-registry $name"
    setsid /usr/bin/docker-registry serve "$cfg" >"$STATE_DIR/$name.log" 2>&1 </dev/null &
    wait_for "docker-registry $name" 30 "$@"
  fi
}

setup_registry() {
  # The second registry (basic auth): builders/docker's tests use the same.
  local AUTH_REGISTRY_ADDR=127.0.0.1:5001 AUTH_REGISTRY_USER=imgbuild AUTH_REGISTRY_PASSWORD=imgbuild-registry-pw-4Kd
  # moto's ECR answers GetAuthorizationToken with this login, for the
  # registry of its account (internal/dockerengine/enginetest has the same).
  local ECR_HOST=123456789012.dkr.ecr.us-east-1.amazonaws.com ECR_USER=AWS ECR_PASSWORD=123456789012-auth-token
  apt_install docker-registry apache2-utils curl
  # Debian's default config asks for htpasswd auth; ours is open and local.
  # Deleting is on: the shared cache's prune deletes manifests (oci://).
  ensure_registry registry "version: 0.1
storage:
  filesystem:
    rootdirectory: $STATE_DIR/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR" curl -fsS "http://$REGISTRY_ADDR/v2/"
  # A second registry that wants a login, for the login tests. Its users
  # file has a name of its own per set of users: a new set changes the
  # configuration, which restarts the registry (it reads the file once).
  local users="$STATE_DIR/registry-auth-ecr.htpasswd"
  if ! htpasswd -vb "$users" "$AUTH_REGISTRY_USER" "$AUTH_REGISTRY_PASSWORD" >/dev/null 2>&1 ||
    ! htpasswd -vb "$users" "$ECR_USER" "$ECR_PASSWORD" >/dev/null 2>&1; then
    htpasswd -Bbc "$users.new" "$AUTH_REGISTRY_USER" "$AUTH_REGISTRY_PASSWORD" >/dev/null 2>&1
    htpasswd -Bb "$users.new" "$ECR_USER" "$ECR_PASSWORD" >/dev/null 2>&1
    mv "$users.new" "$users"
  fi
  # The engines treat a registry whose name resolves to loopback as plain
  # HTTP, as they do 127.0.0.1.
  if ! grep -qE "^127\.0\.0\.1[[:space:]]+$ECR_HOST\$" /etc/hosts; then
    need_root "an /etc/hosts entry for $ECR_HOST"
    log "adding $ECR_HOST (moto's ECR registry) to /etc/hosts as 127.0.0.1"
    printf '127.0.0.1 %s\n' "$ECR_HOST" >>/etc/hosts
  fi
  ensure_registry registry-auth "version: 0.1
storage:
  filesystem:
    rootdirectory: $STATE_DIR/registry-auth
  delete:
    enabled: true
http:
  addr: $AUTH_REGISTRY_ADDR
auth:
  htpasswd:
    realm: imgbuild-test
    path: $users" \
    sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$AUTH_REGISTRY_ADDR/v2/)\" = 401 ]"
}

setup_ssh() {
  apt_install openssh-server openssh-client
  # Tests start their own sshd on loopback; this login is theirs
  # (internal/testenv/sshd has the same name and password).
  if ! id -u imgbuildtest >/dev/null 2>&1; then
    need_root "the sshd test user"
    useradd --create-home --shell /bin/sh imgbuildtest
    echo 'imgbuildtest:imgbuild-test-pw-7Qx' | chpasswd
  fi
  mkdir -p /run/sshd
}

setup_qemu() {
  apt_install qemu-system-x86 qemu-utils xorriso e2fsprogs kmod cpio busybox-static openssh-server linux-image-cloud-amd64 \
    dosfstools mtools ovmf swtpm swtpm-tools
  # The test VM disk and the live ISO (cached in testdata/vm/ by script content).
  if [ -x "$HERE/testdata/make-test-iso.sh" ]; then
    "$HERE/testdata/make-test-iso.sh"
  elif [ -x "$HERE/testdata/make-test-vm.sh" ]; then
    "$HERE/testdata/make-test-vm.sh"
  fi
}

# HashiCorp's Packer plugins, built from the Go module proxy, cached by
# version in $STATE_DIR/packer-plugins (internal/testenv.PackerPlugin).
setup_plugins() {
  IMGBUILD_TEST_STATE=$STATE_DIR "$HERE/testdata/packer-plugins.sh"
}

# ansible-core from PyPI in a venv of its own; tests put its bin on PATH
# (internal/testenv.Ansible). The stamp, written last, names what is in it.
ANSIBLE_CORE_VERSION=2.19.14
setup_ansible() {
  apt_install python3 python3-venv
  local venv=$STATE_DIR/ansible-venv
  local want="ansible-core==$ANSIBLE_CORE_VERSION $(/usr/bin/python3 --version 2>&1)"
  [ "$(cat "$venv/imgbuild-stamp" 2>/dev/null)" = "$want" ] && return 0
  local start=$SECONDS
  log "installing ansible-core $ANSIBLE_CORE_VERSION into $venv"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$ANSIBLE_CORE_VERSION" ||
    die "pip install ansible-core==$ANSIBLE_CORE_VERSION failed"
  echo "$want" >"$venv/imgbuild-stamp"
  log "ansible-core installed in $((SECONDS - start))s"
}

# Debian bookworm guests made from Debian's packages (debootstrap), cached
# by the script's content (internal/testenv.DebianImage, DebianVM).
# setup_debian [all|docker]: the Debian bookworm guests (docker: the images
# only, what make demo needs).
setup_debian() {
  apt_install debootstrap e2fsprogs qemu-utils openssh-client util-linux
  IMGBUILD_TEST_STATE=$STATE_DIR "$HERE/testdata/make-debian.sh" "${1:-all}"
}

# VMware's vCenter simulator, built from testdata/vcsim (a Go module of its
# own, so govmomi stays out of imgbuild's go.mod), cached by the content of
# its sources (internal/testenv.StartVCSim).
setup_vcsim() {
  local src=$HERE/testdata/vcsim out=$STATE_DIR/vcsim key
  key=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-16)
  [ -x "$out/vcsim" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$key" ] && return 0
  command -v go >/dev/null || die "go is not installed: the simulator is built from testdata/vcsim"
  local start=$SECONDS
  mkdir -p "$out"
  (cd "$src" && GOWORK=off GOFLAGS=-buildvcs=false go build -o "$out/vcsim.tmp" .) || die "building testdata/vcsim failed"
  mv -f "$out/vcsim.tmp" "$out/vcsim"
  echo "$key" >"$out/stamp"
  log "built the vCenter simulator in $((SECONDS - start))s"
}

setup_moto() {
  apt_install curl
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-pip
  if ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
    log "installing moto[server] from PyPI"
    # Debian's own python3 refuses pip installs outside a venv (PEP 668);
    # a python3 of its own (pyenv) does not know the flag's reason and
    # accepts the plain form first.
    python3 -m pip install -q 'moto[server]' 2>/dev/null ||
      python3 -m pip install -q --break-system-packages 'moto[server]' ||
      die "pip install moto[server] failed"
  fi
  if ! curl -fsS "http://$MOTO_ADDR/moto-api/" >/dev/null 2>&1; then
    log "starting moto_server on $MOTO_ADDR"
    mkdir -p "$STATE_DIR"
    setsid python3 -m moto.server -H "${MOTO_ADDR%:*}" -p "${MOTO_ADDR#*:}" >"$STATE_DIR/moto.log" 2>&1 </dev/null &
    wait_for moto_server 60 curl -fsS "http://$MOTO_ADDR/moto-api/"
  fi
  # Every run starts from an empty emulator: moto keeps everything a run
  # made (AMIs, snapshots, tagged instances), and its describe calls and
  # imgbuild cleanup's sweep slow down as that grows.
  curl -fsS -X POST "http://$MOTO_ADDR/moto-api/reset" >/dev/null ||
    die "resetting moto_server on $MOTO_ADDR failed"
}

main() {
  case "${1:-all}" in
    docker)
      apt_install curl
      setup_docker
      setup_debian docker
      ;;
    all)
      apt_install curl
      setup_docker
      setup_registry
      setup_ssh
      setup_qemu
      setup_moto
      IMGBUILD_TEST_STATE=$STATE_DIR "$HERE/testdata/s3-server.sh"
      setup_plugins
      setup_ansible
      setup_vcsim
      setup_debian
      # After setup_debian: it loads the Debian images from the host engine.
      apt_install iproute2
      IMGBUILD_TEST_STATE=$STATE_DIR "$HERE/testdata/docker-modern.sh"
      ;;
    *) die "unknown component $1 (docker|all)" ;;
  esac
  log "ready"
}

main "$@"
