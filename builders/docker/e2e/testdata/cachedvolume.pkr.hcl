# The step cache with a mounted host folder: what a provisioner reads
# from a volume is an input of its step, like an uploaded file.
variable "repo" {
  type = string
}

variable "tag" {
  type = string
}

variable "shared" {
  type = string
}

source "docker" "cachedvol" {
  image   = "imgbuild-base:latest"
  pull    = false
  commit  = true
  volumes = { (var.shared) = "/mnt/shared" }
}

build {
  sources = ["source.docker.cachedvol"]

  provisioner "shell" {
    inline = ["echo vol-step-ran | tr a-z A-Z", "cp /mnt/shared/data /data"]
  }

  post-processor "docker-tag" {
    repository = var.repo
    tags       = [var.tag]
  }
}
