#!/usr/bin/env bash
# Builds the test VM that imgbuild's qemu tests boot, from Debian packages
# only: the cloud kernel (linux-image-cloud-amd64), busybox-static, and
# OpenSSH's sshd/scp/sftp-server copied in with their libraries.
#
# Output, in testdata/vm/ (gitignored), cached by this script's content and
# the kernel version (a second run returns at once):
#   vmlinuz, initrd.img  boot these with -kernel/-initrd (direct kernel boot)
#   disk.qcow2           ext4 root filesystem; boot with -append "root=/dev/vda"
#                        (without root=, the initramfs itself runs as a live system)
#   id_ed25519(.pub)     key accepted for root
# Login: root / vm-password (password) or the key. The guest has the static
# address 10.0.2.15 on QEMU's user network, sshd on port 22, and a shell on
# tty1 (the VNC console) for boot_command tests. `poweroff` stops it cleanly,
# at once (its PID 1 is a script: see below).
# Run it as root (scripts/test-setup.sh does): the image files must be
# owned by root for sshd to accept them.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${IMGBUILD_TEST_VM_DIR:-$HERE/vm}
PASSWORD=vm-password

log() { printf 'make-test-vm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

kernel=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n1) ||
  true
[ -n "$kernel" ] || die "no /boot/vmlinuz-*-cloud-amd64: install linux-image-cloud-amd64"
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver/kernel
for tool in busybox mke2fs qemu-img cpio gzip ssh-keygen; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ] ||
    die "$tool is missing: run scripts/test-setup.sh (it installs busybox-static, e2fsprogs, qemu-utils, cpio, openssh)"
done
PATH=$PATH:/usr/sbin:/sbin
[ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd is missing: install openssh-server"

key=$({ cat "$0"; echo "$kver"; stat -c '%s %Y' "$(command -v busybox)" /usr/sbin/sshd; } | sha256sum | cut -c1-16)
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
if [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$key" ]; then
  exit 0
fi
log "building the test VM in $OUT (key $key)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/lib/openssh,etc/ssh,root/.ssh,tmp,proc,sys,dev,run,var/empty,mnt,newroot,lib/modules}
chmod 1777 "$root/tmp"
chmod 700 "$root/root" "$root/root/.ssh"

# busybox and its applets.
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done

# OpenSSH with the libraries it links (and the dynamic loader).
copy_with_libs() {
  local bin=$1 lib
  install -D -m 0755 "$bin" "$root$bin"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$lib" "$root$lib"
  done
}
copy_with_libs /usr/sbin/sshd
copy_with_libs /usr/bin/scp
copy_with_libs /usr/lib/openssh/sftp-server
ssh-keygen -q -t ed25519 -N '' -C imgbuild-test-host -f "$root/etc/ssh/ssh_host_ed25519_key"
ssh-keygen -q -t ed25519 -N '' -C imgbuild-test -f "$work/id_ed25519"
cp "$work/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
chmod 600 "$root/root/.ssh/authorized_keys"
cat >"$root/etc/ssh/sshd_config" <<'EOF'
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
AuthorizedKeysFile .ssh/authorized_keys
PidFile /run/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
EOF

hash=$(busybox mkpasswd -m sha512 "$PASSWORD" imgbuildtestvm)
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sshd:x:100:65534:sshd privilege separation:/run/sshd:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
printf 'root:%s:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n' "$hash" >"$root/etc/shadow"
chmod 600 "$root/etc/shadow"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
echo imgbuild-test >"$root/etc/hostname"
echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"

# PID 1: what busybox init would do with an inittab (the set-up scripts, a
# login shell on tty1 typed into over VNC, a clean remount at shutdown),
# without the two one-second pauses busybox init makes before powering off
# (for a console to catch up after signalling every process): 2 s of every
# test build's shutdown with nothing to wait for. poweroff and halt (USR2,
# USR1 to PID 1) power off, reboot and Ctrl-Alt-Del (TERM, INT) reboot.
rm "$root/sbin/init"
cat >"$root/sbin/init" <<'EOF'
#!/bin/sh
PATH=/sbin:/usr/sbin:/bin:/usr/bin
export PATH
/etc/rc
/etc/rc.services &
(
  export TERM=linux HOME=/root
  while :; do
    setsid -c /bin/sh -l </dev/tty1 >/dev/tty1 2>&1
    sleep 0.1
  done
) &
stop() {
  /etc/rc.shutdown
  echo "$1" >/proc/sysrq-trigger
}
trap 'stop o' USR1 USR2
trap 'stop b' TERM INT
# PID 1 never exits; waiting also reaps the orphans it inherits.
while :; do
  sleep 3600 &
  wait $!
done
EOF
chmod 755 "$root/sbin/init"
cat >"$root/etc/rc" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /run/sshd
mount -t devpts devpts /dev/pts
chmod 755 /run/sshd
hostname -F /etc/hostname
EOF
# Started beside the tty1 shell (not before it), so that the console takes
# keys as early as possible; /run/ready tells typed commands the network is up.
cat >"$root/etc/rc.services" <<'EOF'
#!/bin/sh
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
ip route add default via 10.0.2.2
/usr/sbin/sshd
touch /run/ready
EOF
cat >"$root/etc/rc.shutdown" <<'EOF'
#!/bin/sh
kill $(cat /run/sshd.pid 2>/dev/null) 2>/dev/null
sync
mount -o remount,ro / 2>/dev/null
sync
EOF
chmod 755 "$root/etc/rc" "$root/etc/rc.services" "$root/etc/rc.shutdown"
# The tty1 shell, once it reads the keyboard, says so on the first serial
# port: boot_command tests watch for this line (qemuargs -serial file:...)
# instead of guessing a boot_wait.
cat >"$root/etc/profile" <<'EOF'
if [ "$(tty)" = /dev/tty1 ]; then
  echo 'imgbuild-test-vm: console ready' >/dev/ttyS0 2>/dev/null
fi
EOF

# The root filesystem image, before the initramfs-only files are added.
mke2fs -q -t ext4 -L root -d "$root" "$work/disk.raw" 256M >/dev/null
qemu-img convert -O qcow2 "$work/disk.raw" "$work/disk.qcow2"

# The initramfs: the same system plus virtio modules and an /init that
# either switches to /dev/vda (root=/dev/vda) or runs from memory.
for m in virtio/virtio_ring virtio/virtio virtio/virtio_pci_legacy_dev virtio/virtio_pci_modern_dev \
  virtio/virtio_pci block/virtio_blk; do
  cp "$moddir/drivers/$m.ko" "$root/lib/modules/"
done
cp "$moddir/net/core/failover.ko" "$moddir/drivers/net/net_failover.ko" "$moddir/drivers/net/virtio_net.ko" "$root/lib/modules/"
cat >"$root/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk failover net_failover virtio_net; do
  insmod /lib/modules/$m.ko
done
root=
for arg in $(cat /proc/cmdline); do
  case $arg in root=*) root=${arg#root=} ;; esac
done
if [ -n "$root" ]; then
  i=0
  while [ ! -b "$root" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  if mount -t ext4 -o rw "$root" /newroot; then
    umount /proc /dev
    exec switch_root /newroot /sbin/init
  fi
  echo "init: cannot mount $root; running from memory" >/dev/console
fi
umount /proc /dev
exec /sbin/init
EOF
chmod 755 "$root/init"
(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$work/initrd.img"

cp "$kernel" "$work/vmlinuz"
for f in vmlinuz initrd.img disk.qcow2 id_ed25519 id_ed25519.pub; do
  mv -f "$work/$f" "$OUT/$f"
done
chmod 600 "$OUT/id_ed25519"
echo "$key" >"$OUT/stamp"
log "done"
