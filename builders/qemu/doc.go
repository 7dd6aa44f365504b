// Package qemu is the "qemu" builder: it boots an ISO (or, with
// disk_image = true, an existing disk image) in QEMU, types boot_command
// over VNC, provisions the machine over SSH through a forwarded port on
// QEMU's user-mode network, shuts it down, and leaves the compacted disk
// image in output_directory (artifact id "transcend.qemu", as Packer's).
//
// The steps, in order (builder.go): output directory, temporary key pair,
// source image (download, cache, checksum), disks (qemu-img), CD and
// floppy media, HTTP server for the guest, ports, accelerator (KVM only
// when a guest really runs under it, else TCG), QEMU, boot command,
// SSH, provisioners, shutdown, compaction. Every step's cleanup runs on
// failure and Ctrl-C: QEMU (and swtpm, with vtpm) is always stopped, the
// output directory is removed unless the build succeeded. Under
// -on-error=abort the cleanups are skipped and, as with Packer, the VM is
// left running for inspection (leftRunning says how to reach and stop
// it); if imgbuild itself dies, a lifeline process kills QEMU.
//
// UEFI (efi_boot) uses OVMF with a copy of its variables in
// output_directory as efivars.fd; vtpm runs swtpm as a socket TPM.
package qemu
