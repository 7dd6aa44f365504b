#!/usr/bin/env bash
# Builds testdata/vm/live.iso for imgbuild's boot_command tests: an ISO 9660
# image (xorriso) holding the test VM's kernel and initramfs. QEMU boots it
# by direct kernel boot (qemuargs -kernel/-initrd, with no root= so that the
# initramfs runs as a live system from memory). Its console (tty1, shown
# over VNC) is a root shell that reads commands from the keyboard; sshd
# also runs (root / vm-password). Cached by this script's and the VM's content.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${IMGBUILD_TEST_VM_DIR:-$HERE/vm}

"$HERE/make-test-vm.sh"
command -v xorriso >/dev/null || { echo 'make-test-iso: xorriso is missing: install xorriso' >&2; exit 1; }
key=$({ cat "$0"; cat "$OUT/stamp"; } | sha256sum | cut -c1-16)
exec 9>"$OUT/.lock"
flock 9
if [ "$(cat "$OUT/live.stamp" 2>/dev/null)" = "$key" ] && [ -f "$OUT/live.iso" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/boot"
cp "$OUT/vmlinuz" "$OUT/initrd.img" "$work/root/boot/"
echo 'imgbuild test live ISO' >"$work/root/README"
xorriso -as mkisofs -quiet -J -r -V IMGBUILD_LIVE -o "$work/live.iso" "$work/root"
mv -f "$work/live.iso" "$OUT/live.iso"
echo "$key" >"$OUT/live.stamp"
echo "make-test-iso: built $OUT/live.iso" >&2
