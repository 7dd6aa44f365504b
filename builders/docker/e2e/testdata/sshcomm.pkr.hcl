# communicator = "ssh" in a docker build: the container's own process is
# sshd (as Packer users start it), and the provisioners reach it over SSH
# at the container's address.
variable "repo" {
  type = string
}
variable "image" {
  type = string
}
variable "password" {
  type      = string
  default   = ""
  sensitive = true
}
variable "run_command" {
  type    = list(string)
  default = ["-d", "{{.Image}}", "/usr/sbin/sshd", "-D", "-e"]
}
variable "ssh_timeout" {
  type    = string
  default = "30s"
}
variable "key_file" {
  type    = string
  default = ""
}

source "docker" "sshcomm" {
  image       = var.image
  pull        = false
  commit      = true
  run_command = var.run_command

  communicator         = "ssh"
  ssh_username         = "root"
  ssh_password         = var.password
  ssh_private_key_file = var.key_file
  ssh_timeout          = var.ssh_timeout
}

build {
  sources = ["source.docker.sshcomm"]

  # Over SSH, as in Packer, the destination's parent must exist.
  provisioner "shell" {
    inline = ["mkdir -p /etc/app"]
  }

  provisioner "file" {
    source      = "${path.root}/files/app.conf"
    destination = "/etc/app/app.conf"
  }

  provisioner "file" {
    content     = "uploaded over ssh\n"
    destination = "/etc/over-ssh.txt"
  }

  provisioner "shell" {
    environment_vars = ["GREETING=hello over ssh"]
    inline           = ["echo \"$GREETING\" > /etc/provisioned", "echo provisioned as $(id -u)"]
  }

  post-processor "docker-tag" {
    repository = var.repo
    tags       = ["ssh"]
  }
}
