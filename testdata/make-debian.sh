#!/usr/bin/env bash
# Makes the Debian bookworm guests of imgbuild's tests from Debian packages
# only: one minbase tree (debootstrap), from which come
#
#   local/debian:bookworm          docker image: minbase, CMD ["/bin/bash"]
#   local/debian-ansible:bookworm  the same plus python3 and Debian's
#                                  ansible-core (for the ansible provisioner
#                                  and for ansible-local inside the build)
#   $OUT/vm/                       a VM: the same tree plus systemd, udev, D-Bus,
#                                  OpenSSH, sudo, python3 and the cloud kernel
#
# The VM directory ($OUT = ${IMGBUILD_TEST_STATE:-/var/lib/imgbuild-test}/debian):
#   disk.qcow2           ext4 root file system (label root), 4 GiB virtual
#   vmlinuz, initrd.img  the guest's own kernel and Debian initramfs: boot with
#                        -kernel/-initrd (there is no boot loader)
#   id_ed25519(.pub)     key accepted for root and for debian
#   cmdline-systemd      the -append for a normal boot (systemd, networkd, sshd)
#   cmdline-fast         the -append for the fast boot: the same disk, but
#                        /sbin/imgbuild-fast-init instead of systemd brings up
#                        the network and starts sshd; poweroff, reboot, halt and
#                        shutdown work (systemctl does not)
# Login: debian / debian (password or key; sudo without password, as in
# Debian's cloud images) or root with the key. The guest has the static
# address 10.0.2.15/24 on QEMU's user network (gateway 10.0.2.2, DNS 10.0.2.3)
# and sshd on port 22. Its apt sources are Debian's mirror (bookworm main);
# apt lists are cleaned: run `apt-get update` before installing.
#
# Cached by this script's content: a second run returns at once. Run as root
# (scripts/test-setup.sh does): debootstrap, chroot and device nodes need it.
#
#   testdata/make-debian.sh [all|docker|vm]
set -euo pipefail

STATE_DIR=${IMGBUILD_TEST_STATE:-/var/lib/imgbuild-test}
OUT=$STATE_DIR/debian
MIRROR=${IMGBUILD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
BASE_IMAGE=local/debian:bookworm
ANSIBLE_IMAGE=local/debian-ansible:bookworm
KEY_LABEL=org.imgbuild.test.key
VM_PASSWORD=debian
# The static address the guest gives itself (QEMU's user network).
GUEST_NET='Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3'

log() { printf 'make-debian: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it)"
what=${1:-all}
case $what in all | docker | vm) ;; *) die "unknown target $what (all|docker|vm)" ;; esac
PATH=$PATH:/usr/sbin:/sbin
for tool in debootstrap mke2fs qemu-img ssh-keygen flock; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/test-setup.sh (it installs debootstrap, e2fsprogs, qemu-utils, openssh-client)"
done

key=$(sha256sum "$0" | cut -c1-16)
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

image_current() { [ "$(docker image inspect -f "{{index .Config.Labels \"$KEY_LABEL\"}}" "$1" 2>/dev/null)" = "$key" ]; }
want_docker= want_vm=
if [ "$what" != vm ]; then
  command -v docker >/dev/null || die "docker is missing: run scripts/test-setup.sh"
  image_current "$BASE_IMAGE" && image_current "$ANSIBLE_IMAGE" || want_docker=1
fi
if [ "$what" != docker ] && [ "$(cat "$OUT/vm/stamp" 2>/dev/null)" != "$key" ]; then
  want_vm=1
fi
[ -n "$want_docker$want_vm" ] || exit 0

# A killed run leaves its work folder (and maybe a mounted /proc) behind.
cleanup_work() {
  local d
  for d in "$OUT"/.work.*; do
    [ -d "$d" ] || continue
    for m in $(awk -v p="$d/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
      umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$d"
  done
}
cleanup_work
work=$(mktemp -d "$OUT/.work.XXXXXX")
trap cleanup_work EXIT
trap 'exit 130' INT TERM

elapsed() { echo "$((SECONDS - $1))s"; }

# in_tree TREE CMD...: runs CMD chrooted in TREE with /proc mounted and
# services kept from starting (policy-rc.d).
in_tree() {
  local tree=$1; shift
  mount -t proc proc "$tree/proc"
  local rc=0
  chroot "$tree" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@" || rc=$?
  umount "$tree/proc"
  return $rc
}

# apt_into TREE PKG...: installs packages into TREE from the mirror, then
# drops the package lists and downloaded files.
apt_into() {
  local tree=$1; shift
  in_tree "$tree" apt-get update -qq
  in_tree "$tree" apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold -o Dpkg::Use-Pty=0 "$@" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; die "installing $* failed"; }
  slim "$tree"
}

# slim TREE: what a container or test VM never reads (documentation,
# translations, apt lists and caches), keeping the copyright files.
slim() {
  local tree=$1
  rm -rf "$tree"/var/lib/apt/lists/* "$tree"/var/cache/apt/*.bin "$tree"/var/cache/apt/archives/*.deb \
    "$tree"/usr/share/man/* "$tree"/usr/share/info/* "$tree"/usr/share/locale/* "$tree"/usr/share/lintian/* \
    "$tree"/var/log/*.log "$tree"/var/log/apt/* "$tree"/var/cache/debconf/*-old "$tree"/tmp/*
  find "$tree/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$tree/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
}

# --- the shared minbase tree --------------------------------------------
start=$SECONDS
base=$work/base
mkdir -p "$OUT/debs"
debootstrap --variant=minbase --cache-dir="$OUT/debs" "$SUITE" "$base" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap $SUITE from $MIRROR failed"; }
# Packages installed later leave their documentation out.
cat >"$base/etc/dpkg/dpkg.cfg.d/01-imgbuild-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
echo 'APT::Install-Recommends "false";' >"$base/etc/apt/apt.conf.d/01-imgbuild-norecommends"
slim "$base"
log "debootstrap --variant=minbase $SUITE: $(elapsed "$start")"

# docker_import TREE IMAGE: imports TREE as IMAGE (labelled with the key).
docker_import() {
  local tree=$1 image=$2 start=$SECONDS
  tar -C "$tree" --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -c . |
    docker import -c 'CMD ["/bin/bash"]' -c "LABEL $KEY_LABEL=$key" - "$image" >/dev/null
  log "$image: $(elapsed "$start")"
}

# --- docker images --------------------------------------------------------
if [ -n "$want_docker" ]; then
  docker_import "$base" "$BASE_IMAGE"
  start=$SECONDS
  ans=$work/ansible
  cp -a "$base" "$ans"
  apt_into "$ans" python3 ansible-core
  log "python3 and ansible-core into the tree: $(elapsed "$start")"
  docker_import "$ans" "$ANSIBLE_IMAGE"
  rm -rf --one-file-system "$ans"
fi

# --- the VM ---------------------------------------------------------------
if [ -n "$want_vm" ]; then
  start=$SECONDS
  vm=$base # the last user of the tree: no copy
  # A small initramfs that knows the virtio disk and network, built by
  # Debian's own initramfs-tools when the kernel is installed.
  mkdir -p "$vm/etc/initramfs-tools/conf.d"
  printf 'MODULES=list\nCOMPRESS=gzip\n' >"$vm/etc/initramfs-tools/conf.d/imgbuild"
  printf '%s\n' virtio_pci virtio_blk virtio_net >"$vm/etc/initramfs-tools/modules"
  printf '#!/bin/sh\nexit 101\n' >"$vm/usr/sbin/policy-rc.d"
  chmod 755 "$vm/usr/sbin/policy-rc.d"
  apt_into "$vm" systemd-sysv udev dbus openssh-server sudo python3 linux-image-cloud-amd64 iproute2 kmod
  rm -f "$vm/usr/sbin/policy-rc.d"
  log "systemd, D-Bus, OpenSSH, sudo, python3 and the cloud kernel into the tree: $(elapsed "$start")"

  start=$SECONDS
  echo debian-test >"$vm/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 debian-test\n::1 localhost ip6-localhost ip6-loopback\n' >"$vm/etc/hosts"
  echo 'LABEL=root / ext4 errors=remount-ro 0 1' >"$vm/etc/fstab"
  echo 'nameserver 10.0.2.3' >"$vm/etc/resolv.conf"
  # A fresh machine-id on first boot, as Debian's cloud images do.
  : >"$vm/etc/machine-id"
  rm -f "$vm/var/lib/dbus/machine-id"

  # Network: systemd-networkd with the static address (names en* with udev,
  # eth* without); nothing waits for "online".
  cat >"$vm/etc/systemd/network/10-qemu-user.network" <<EOF
[Match]
Name=en* eth*

[Network]
$GUEST_NET
EOF
  in_tree "$vm" systemctl enable -q systemd-networkd.service
  # Timers that would run apt or scrub disks in the middle of a test, and
  # waits that only cost boot time here.
  in_tree "$vm" systemctl mask -q apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
    fstrim.timer systemd-networkd-wait-online.service

  # The debian user (sudo without password) and the keys.
  in_tree "$vm" useradd --create-home --shell /bin/bash --groups sudo debian
  in_tree "$vm" sh -c "echo 'debian:$VM_PASSWORD' | chpasswd"
  echo 'debian ALL=(ALL:ALL) NOPASSWD: ALL' >"$vm/etc/sudoers.d/90-debian"
  chmod 440 "$vm/etc/sudoers.d/90-debian"
  ssh-keygen -q -t ed25519 -N '' -C imgbuild-debian-test -f "$work/id_ed25519"
  authorize() { install -d -m 700 -o "$2" -g "$2" "$vm$1/.ssh" && install -m 600 -o "$2" -g "$2" "$work/id_ed25519.pub" "$vm$1/.ssh/authorized_keys"; }
  authorize /root 0
  uid=$(awk -F: '$1 == "debian" { print $3 }' "$vm/etc/passwd")
  authorize /home/debian "$uid"
  # Host keys made now (openssh-server's postinst) are shared by every boot
  # of the disk: generating them at first boot would cost seconds under TCG.
  printf 'UseDNS no\n' >"$vm/etc/ssh/sshd_config.d/imgbuild.conf"

  # The fast boot: the same system without systemd. It mounts what sshd and
  # Python need, brings up the network, starts sshd, and turns poweroff,
  # reboot, halt and shutdown into a clean unmount and power-off (reboot).
  cat >"$vm/sbin/imgbuild-fast-init" <<EOF
#!/bin/sh
# PID 1 of the fast boot (cmdline-fast), made by imgbuild's
# testdata/make-debian.sh. Not for real systems: it starts sshd only.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
# Debian's initramfs hands over /proc, /sys, /dev and /run already mounted.
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mountpoint -q /dev/pts || mount -t devpts devpts /dev/pts
mountpoint -q /dev/shm || mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mountpoint -q /run || mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd /run/lock
mount -o remount,rw /
hostname -F /etc/hostname
# poweroff & co. are systemctl, which needs systemd: for this boot only, a
# tmpfs on /usr/local/sbin (first in root's and sudo's PATH) holds ours.
mount -t tmpfs -o mode=755 tmpfs /usr/local/sbin
for m in poweroff halt reboot shutdown; do
  ln -s /sbin/imgbuild-fast-stop "/usr/local/sbin/\$m"
done
modprobe virtio_net 2>/dev/null
ip link set lo up
dev=\$(ls /sys/class/net | grep -v '^lo\$' | head -n1)
ip addr add 10.0.2.15/24 dev "\$dev"
ip link set "\$dev" up
ip route add default via 10.0.2.2
/usr/sbin/sshd
echo 'imgbuild-fast-init: sshd started' >/dev/console

stop() {
  pkill sshd
  sync
  mount -o remount,ro /
  sync
  echo "\$1" >/proc/sysrq-trigger
}
trap 'stop o' USR2
trap 'stop b' INT
# PID 1 never exits; waiting also reaps the children it started.
while :; do
  sleep 3600 &
  wait \$!
done
EOF
  cat >"$vm/sbin/imgbuild-fast-stop" <<'EOF'
#!/bin/sh
# poweroff, halt, reboot and shutdown under imgbuild-fast-init: PID 1 stops
# the system (USR2 powers off, INT reboots).
case "$(basename "$0") $*" in
  reboot* | *" -r"*) kill -INT 1 ;;
  *) kill -USR2 1 ;;
esac
EOF
  chmod 755 "$vm/sbin/imgbuild-fast-init" "$vm/sbin/imgbuild-fast-stop"

  kver=$(ls "$vm/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -n1)
  [ -n "$kver" ] || die "the cloud kernel did not install into the tree"
  cp "$vm/boot/vmlinuz-$kver" "$work/vmlinuz"
  cp "$vm/boot/initrd.img-$kver" "$work/initrd.img"
  slim "$vm"
  truncate -s 4G "$work/disk.raw"
  mke2fs -q -t ext4 -L root -d "$vm" "$work/disk.raw"
  qemu-img convert -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
  rm -f "$work/disk.raw"
  echo "root=/dev/vda ro console=ttyS0 quiet" >"$work/cmdline-systemd"
  echo "root=/dev/vda ro console=ttyS0 quiet init=/sbin/imgbuild-fast-init" >"$work/cmdline-fast"
  mkdir -p "$OUT/vm"
  for f in vmlinuz initrd.img disk.qcow2 id_ed25519 id_ed25519.pub cmdline-systemd cmdline-fast; do
    mv -f "$work/$f" "$OUT/vm/$f"
  done
  chmod 600 "$OUT/vm/id_ed25519"
  echo "$key" >"$OUT/vm/stamp"
  log "VM disk (kernel $kver): $(elapsed "$start")"
fi
log "done"
