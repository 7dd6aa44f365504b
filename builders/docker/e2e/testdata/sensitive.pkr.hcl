variable "token" {
  type      = string
  sensitive = true
}

source "docker" "sensitive" {
  image   = "imgbuild-base:latest"
  pull    = false
  discard = true
}

build {
  sources = ["source.docker.sensitive"]

  provisioner "shell" {
    environment_vars = ["TOKEN=${var.token}"]
    inline = [
      "echo inline sees ${var.token}",
      "echo env sees $TOKEN",
      "echo $TOKEN >&2",
      "echo \"${var.token}\" > /token.txt",
    ]
  }

  provisioner "file" {
    content     = "token=${var.token}\n"
    destination = "/etc/token.conf"
  }

  provisioner "shell" {
    inline = ["cat /etc/token.conf /token.txt"]
  }
}
