variable "repo" {
  type = string
}

source "docker" "tagged" {
  image  = "imgbuild-base:latest"
  pull   = false
  commit = true
  changes = [
    "ENV COLOR=blue",
    "CMD [\"cat\", \"/etc/provisioned\"]",
  ]
}

build {
  sources = ["source.docker.tagged"]

  provisioner "file" {
    source      = "${path.root}/files/app.conf"
    destination = "/etc/app/app.conf"
  }

  provisioner "file" {
    content     = "inline content\n"
    destination = "/etc/inline.txt"
  }

  provisioner "shell" {
    inline = ["echo provisioned > /etc/provisioned"]
  }

  post-processor "docker-tag" {
    repository = var.repo
    tags       = ["e2e"]
  }
}
