package qemu
