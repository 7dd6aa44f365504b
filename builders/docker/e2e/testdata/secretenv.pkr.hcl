variable "token" {
  type      = string
  sensitive = true
}

source "docker" "secretenv" {
  image   = "imgbuild-base:latest"
  pull    = false
  discard = true
}

build {
  sources = ["source.docker.secretenv"]

  provisioner "shell" {
    environment_vars = ["TOKEN=${var.token}"]
    inline           = ["test -n \"$TOKEN\" && echo sleeping now with the token set", "sleep 30"]
  }
}
