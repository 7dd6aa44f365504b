# The nginx image, three ways: the same provisioners install nginx on
# Debian and write a page that names the build, into
#
#   docker.nginx      a Docker image of Debian bookworm (make demo builds it)
#   qemu.nginx        a qcow2 VM image of Debian bookworm, booted under QEMU
#   amazon-ebs.nginx  an Ubuntu AMI
#
# Test locally before paying for the cloud: build the VM image, change the
# page, build again with -cache (the rebuild resumes from the last unchanged
# step instead of booting), then build the AMI:
#
#   imgbuild build -only 'qemu.*' -cache examples/nginx
#   imgbuild build -only 'qemu.*' -cache -force -var 'page_title=Hello again' examples/nginx
#   imgbuild build -only 'amazon-ebs.*' examples/nginx
#
# The docker and qemu sources start from the Debian image and VM that
# testdata/make-debian.sh makes from Debian's packages (scripts/test-setup.sh
# runs it; `make demo` makes the Docker image). The amazon-ebs source uses
# your AWS credentials and region as any AWS tool does (AWS_PROFILE,
# AWS_REGION, ...); it finds the newest Ubuntu 22.04 AMI of Canonical. The
# tests run it against moto, the EC2 emulator: its instances have no network,
# so -var ssh_host/ssh_port/ssh_password point the communicator at a local
# Debian VM standing in for the instance.

packer {
  required_plugins {
    docker = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/docker"
    }
    qemu = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/qemu"
    }
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "page_title" {
  type        = string
  default     = "Hello from imgbuild"
  description = "The heading of the page nginx serves."
}

variable "debian_image" {
  type    = string
  default = "local/debian:bookworm"
}

variable "debian_vm" {
  type        = string
  default     = "/var/lib/imgbuild-test/debian/vm"
  description = "The folder testdata/make-debian.sh writes the Debian VM to: disk, kernel, initrd."
}

variable "debian_vm_cmdline" {
  type        = string
  default     = "root=/dev/vda ro console=ttyS0 quiet"
  description = "The kernel command line of the Debian VM (it boots by direct kernel boot)."
}

variable "docker_repository" {
  type    = string
  default = "imgbuild-nginx"
}

variable "ubuntu_ami_name" {
  type        = string
  default     = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"
  description = "The name pattern of Canonical's AMI to start from (moto, in the tests, has xenial's)."
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "ssh_host" {
  type        = string
  default     = ""
  description = "amazon-ebs: empty for the instance's own address."
}

variable "ssh_port" {
  type    = number
  default = 22
}

variable "ssh_username" {
  type    = string
  default = "ubuntu"
}

variable "ssh_password" {
  type      = string
  default   = ""
  sensitive = true
}

locals {
  stamp = formatdate("YYYYMMDDhhmmss", timestamp())
}

source "docker" "nginx" {
  image  = var.debian_image
  pull   = false
  commit = true
  changes = [
    "EXPOSE 80",
    "CMD [\"nginx\", \"-g\", \"daemon off;\"]",
  ]
}

source "qemu" "nginx" {
  iso_url          = "${var.debian_vm}/disk.qcow2"
  iso_checksum     = "none"
  disk_image       = true
  format           = "qcow2"
  headless         = true
  memory           = 1024
  cpus             = 2
  vm_name          = "nginx.qcow2"
  output_directory = "output-nginx-qemu"
  ssh_username     = "debian"
  ssh_password     = "debian"
  ssh_timeout      = "5m"
  shutdown_command = "sudo poweroff"
  qemuargs = [
    ["-kernel", "${var.debian_vm}/vmlinuz"],
    ["-initrd", "${var.debian_vm}/initrd.img"],
    ["-append", var.debian_vm_cmdline],
  ]
}

source "amazon-ebs" "nginx" {
  region        = var.region
  instance_type = "t3.micro"
  ami_name      = "imgbuild-nginx-${local.stamp}"
  source_ami_filter {
    filters = {
      name                = var.ubuntu_ami_name
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["099720109477"]
    most_recent = true
  }
  ssh_username = var.ssh_username
  ssh_host     = var.ssh_host
  ssh_port     = var.ssh_port
  ssh_password = var.ssh_password
  tags = {
    Name      = "imgbuild-nginx"
    Page      = var.page_title
    SourceAMI = "{{ .SourceAMI }}"
  }
}

build {
  sources = ["source.docker.nginx", "source.qemu.nginx", "source.amazon-ebs.nginx"]

  # The VM and the instance log in as a user with sudo; the container is root.
  provisioner "shell" {
    environment_vars = ["DEBIAN_FRONTEND=noninteractive"]
    execute_command  = "chmod +x {{ .Path }}; sudo -E {{ .Vars }} {{ .Path }}"
    inline = [
      "apt-get update -qq",
      "apt-get install -y -qq --no-install-recommends nginx-light >/dev/null",
      "nginx -v",
    ]
    override = {
      "docker.nginx" = { execute_command = "chmod +x {{ .Path }}; {{ .Vars }} {{ .Path }}" }
    }
  }

  provisioner "shell" {
    environment_vars = ["PAGE_TITLE=${var.page_title}", "BUILD=${source.type}.${source.name}"]
    execute_command  = "chmod +x {{ .Path }}; sudo -E {{ .Vars }} {{ .Path }}"
    inline = [
      "printf '<!doctype html>\\n<title>%s</title>\\n<h1>%s</h1>\\n<p>Built by imgbuild: %s</p>\\n' \"$PAGE_TITLE\" \"$PAGE_TITLE\" \"$BUILD\" > /var/www/html/index.html",
      "cat /var/www/html/index.html",
    ]
    override = {
      "docker.nginx" = { execute_command = "chmod +x {{ .Path }}; {{ .Vars }} {{ .Path }}" }
    }
  }

  post-processor "docker-tag" {
    only       = ["docker.nginx"]
    repository = var.docker_repository
    tags       = ["latest"]
  }
}
