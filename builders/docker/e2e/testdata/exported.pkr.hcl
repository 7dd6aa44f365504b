variable "repo" {
  type = string
}

variable "tarball" {
  type = string
}

source "docker" "exported" {
  image       = "imgbuild-base:latest"
  pull        = false
  export_path = var.tarball
}

build {
  sources = ["source.docker.exported"]

  provisioner "shell" {
    inline = ["echo exported content > /exported.txt"]
  }

  post-processor "docker-import" {
    repository = var.repo
    tag        = "imported"
    changes    = ["CMD [\"cat\", \"/exported.txt\"]"]
  }
}
