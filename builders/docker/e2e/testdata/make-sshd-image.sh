#!/usr/bin/env bash
# Makes the Docker image that the communicator = "ssh" tests start: busybox
# and OpenSSH's sshd, scp and sftp-server with their libraries, imported
# with `docker import` (nothing can be pulled here). It prints the image's
# tag on stdout.
#
# The tag is imgbuild-test-sshd:HASH, HASH being of this script and the
# busybox and sshd binaries: a second run with the same inputs finds the
# image and returns at once. The image is a cache kept across test runs;
# remove it with `docker rmi imgbuild-test-sshd:HASH`.
#
# In the image: sshd's privilege-separation user and /run/sshd, a host key,
# and a configuration on port 22 that lets root in with the password
# PASSWORD below or with any key (AuthorizedKeysCommand echoes the offered
# key back), so a test can bring a key pair of its own. Start it with
# `/usr/sbin/sshd -D -e` as the container's command.
set -euo pipefail

PASSWORD=sshd-test-password
REPO=imgbuild-test-sshd

log() { printf 'make-sshd-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

PATH=$PATH:/usr/sbin:/sbin
for tool in docker busybox ssh-keygen ldd tar; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/test-setup.sh (it installs docker.io, busybox-static and openssh)"
done
[ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd is missing: install openssh-server (scripts/test-setup.sh does)"

# OpenSSH 9.8 and later split sshd into helpers that must be there too.
binaries=(/usr/sbin/sshd /usr/bin/scp /usr/lib/openssh/sftp-server)
for helper in /usr/lib/openssh/sshd-session /usr/lib/openssh/sshd-auth; do
  [ -x "$helper" ] && binaries+=("$helper")
done

hash=$({ cat "$0"; stat -L -c '%n %s %Y' "$(command -v busybox)" "${binaries[@]}"; } | sha256sum | cut -c1-16)
tag=$REPO:$hash
# Tests running at the same time build it once.
exec 9>"${TMPDIR:-/tmp}/imgbuild-test-sshd.lock"
flock 9
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
log "building $tag"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/ssh,root,tmp,proc,sys,dev,run/sshd,var/empty}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
chmod 755 "$root/run/sshd"

cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done

# Each binary with the libraries it links (and the dynamic loader).
for bin in "${binaries[@]}"; do
  install -D -m 0755 "$bin" "$root$bin"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$lib" "$root$lib"
  done
done

ssh-keygen -q -t ed25519 -N '' -C imgbuild-test-sshd -f "$root/etc/ssh/ssh_host_ed25519_key"
cat >"$root/etc/ssh/sshd_config" <<'EOF'
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
AuthorizedKeysFile none
AuthorizedKeysCommand /bin/echo %t %k
AuthorizedKeysCommandUser nobody
PidFile /run/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
EOF

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sshd:x:100:65534:sshd privilege separation:/run/sshd:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
crypted=$(busybox mkpasswd -m sha512 "$PASSWORD" imgbuildsshd)
printf 'root:%s:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' "$crypted" >"$root/etc/shadow"
chmod 600 "$root/etc/shadow"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

# sshd refuses an AuthorizedKeysCommand or keys that are not root's.
tar -C "$root" --owner=0 --group=0 --numeric-owner -c . |
  docker import -c 'CMD ["/usr/sbin/sshd", "-D", "-e"]' -m "imgbuild test sshd" - "$tag" >/dev/null

# Versions made from older inputs are this script's own stale cache; one
# still in use by a container stays (no -f).
for old in $(docker images --format '{{.Repository}}:{{.Tag}}' "$REPO"); do
  [ "$old" = "$tag" ] || docker rmi "$old" >/dev/null 2>&1 || true
done
echo "$tag"
