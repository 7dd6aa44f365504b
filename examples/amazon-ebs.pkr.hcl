# Bake an Ubuntu AMI with a shell provisioner, copy it to a second region,
# and look the source up with the amazon-ami data source.
#
# Against AWS:   imgbuild build examples/amazon-ebs.pkr.hcl
# Against moto (the EC2 emulator; its instances have no network, so SSH goes
# to a local sshd that accepts any key, see ../shared/NOTES.md):
#   AWS_ENDPOINT_URL=http://127.0.0.1:5055 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x \
#   imgbuild build -var ssh_host=127.0.0.1 -var ssh_port=2222 -var ssh_username=$USER \
#     examples/amazon-ebs.pkr.hcl
# If a build is killed, `imgbuild cleanup --dry-run` lists what it left and
# `imgbuild cleanup` removes it.

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "copy_to" {
  type    = list(string)
  default = ["us-west-2"]
}

variable "ssh_host" {
  type        = string
  default     = ""
  description = "Empty: the instance's own address."
}

variable "ssh_port" {
  type    = number
  default = 22
}

variable "ssh_username" {
  type    = string
  default = "ubuntu"
}

data "amazon-ami" "ubuntu" {
  region = var.region
  filters = {
    name                = "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"
    virtualization-type = "hvm"
  }
  owners      = ["099720109477"]
  most_recent = true
}

source "amazon-ebs" "ubuntu" {
  region          = var.region
  source_ami      = data.amazon-ami.ubuntu.id
  instance_type   = "t3.micro"
  ami_name        = "imgbuild-example-{{timestamp}}"
  ami_description = "Ubuntu from ${data.amazon-ami.ubuntu.name}, baked by imgbuild"
  ami_regions     = var.copy_to

  ssh_username            = var.ssh_username
  ssh_host                = var.ssh_host
  ssh_port                = var.ssh_port
  temporary_key_pair_type = "ed25519"

  tags = {
    Name       = "imgbuild-example"
    SourceAMI  = "{{ .SourceAMI }}"
    SourceName = "{{ .SourceAMIName }}"
  }
  snapshot_tags = {
    Name = "imgbuild-example-root"
  }
  run_tags = {
    Purpose = "imgbuild example build"
  }
}

build {
  sources = ["source.amazon-ebs.ubuntu"]

  provisioner "shell" {
    inline = [
      "echo building from ${build.SourceAMI} in ${build.BuildRegion}",
      "uname -a",
    ]
  }

  post-processor "manifest" {
    output = "amazon-ebs-manifest.json"
  }
}
