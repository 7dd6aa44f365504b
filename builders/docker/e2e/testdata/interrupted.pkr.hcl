source "docker" "interrupted" {
  image  = "imgbuild-base:latest"
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.interrupted"]

  provisioner "shell" {
    inline = ["echo sleeping now", "sleep 600"]
  }
}
