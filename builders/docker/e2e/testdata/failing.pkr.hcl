source "docker" "failing" {
  image  = "imgbuild-base:latest"
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.failing"]

  provisioner "shell" {
    inline = ["echo about to fail", "echo a complaint on stderr >&2", "exit 7"]
  }
}
