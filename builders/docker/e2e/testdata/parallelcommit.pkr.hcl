variable "repo" {
  type = string
}

source "docker" "one" {
  image  = "imgbuild-base:latest"
  pull   = false
  commit = true
}

source "docker" "two" {
  image  = "imgbuild-base:latest"
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.one", "source.docker.two"]

  # Each build holds its container for a moment, so that both run at once.
  provisioner "shell" {
    inline = ["echo \"built by $PACKER_BUILD_NAME\" > /built-by", "sleep 1"]
  }

  post-processor "docker-tag" {
    repository = var.repo
    tags       = [source.name]
  }
}
