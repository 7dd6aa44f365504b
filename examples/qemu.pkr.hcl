# A local QEMU image build: start from the test VM's disk image
# (testdata/make-test-vm.sh builds it from Debian packages), provision it
# over SSH, shut it down, and keep a compacted qcow2 in output-qemu-testvm/.
#
#   testdata/make-test-vm.sh && imgbuild build examples/qemu.pkr.hcl
#
# The test VM has no bootloader, so QEMU boots its kernel directly
# (qemuargs -kernel/-initrd/-append), as Packer users do for such images.

variable "vm_dir" {
  type        = string
  default     = ""
  description = "Folder with the test VM (vmlinuz, initrd.img, disk.qcow2); default testdata/vm beside this example."
}

locals {
  vm_dir = var.vm_dir != "" ? var.vm_dir : "${path.root}/../testdata/vm"
}

source "qemu" "testvm" {
  iso_url          = "${local.vm_dir}/disk.qcow2"
  iso_checksum     = "none" # the test VM is rebuilt locally, so its checksum differs per machine
  disk_image       = true
  disk_size        = "512M"
  format           = "qcow2"
  headless         = true
  memory           = 512
  output_directory = "output-qemu-testvm"
  vm_name          = "testvm.qcow2"

  communicator     = "ssh"
  ssh_username     = "root"
  ssh_password     = "vm-password"
  ssh_timeout      = "3m"
  shutdown_command = "poweroff"

  qemuargs = [
    ["-kernel", "${local.vm_dir}/vmlinuz"],
    ["-initrd", "${local.vm_dir}/initrd.img"],
    ["-append", "root=/dev/vda quiet"],
  ]
}

build {
  sources = ["source.qemu.testvm"]

  provisioner "file" {
    content     = "provisioned by imgbuild\n"
    destination = "/root/hello.txt"
  }

  provisioner "shell" {
    inline = [
      "echo \"built on $(hostname) by ${build.PackerRunUUID}\" > /root/built.txt",
      "sync",
    ]
  }
}
