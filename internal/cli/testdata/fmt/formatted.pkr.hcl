variable "image" {
  type    = string
  default = "imgbuild-base:latest"
}

source "docker" "example" {
  image  = var.image
  commit = true
  changes = [
    "ENV FOO=bar",
    "CMD [\"/bin/sh\"]"
  ]
}

build {
  sources = ["source.docker.example"]
  provisioner "shell" {
    inline = ["echo hello"]
  }
}
