source "docker" "left" {
  image   = "imgbuild-base:latest"
  pull    = false
  discard = true
}

source "docker" "right" {
  image   = "imgbuild-base:latest"
  pull    = false
  discard = true
}

build {
  sources = ["source.docker.left", "source.docker.right"]

  provisioner "shell" {
    inline = ["for i in 1 2 3 4 5 6 7 8; do echo \"line $i from $PACKER_BUILD_NAME\"; sleep 0.5; done"]
  }
}
