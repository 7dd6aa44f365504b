# An exported build under -cache: a fully cached rebuild exports a
# container made from the checkpoint, never started.
variable "tarball" {
  type = string
}

source "docker" "cachedexport" {
  image       = "imgbuild-base:latest"
  pull        = false
  export_path = var.tarball
}

build {
  sources = ["source.docker.cachedexport"]

  provisioner "shell" {
    inline = ["echo step-ran | tr a-z A-Z", "echo exported > /exported.txt", "rm /bin/vi"]
  }
}
